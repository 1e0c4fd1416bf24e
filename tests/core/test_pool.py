from ensemble_cli.core.pool import ModelPool, spec_key
from ensemble_cli.generators.hf import HFConfig


def test_same_spec_loads_once_and_changed_option_loads_again():
    pool = ModelPool()
    calls = []

    def loader(tag):
        return lambda: calls.append(tag) or tag

    a = HFConfig(model="m", dtype="bfloat16")
    same = HFConfig(model="m", dtype="bfloat16")
    other = HFConfig(model="m", dtype="float32")
    assert pool.get(spec_key("hf", a), loader("a")) == "a"
    assert pool.get(spec_key("hf", same), loader("same")) == "a"
    assert pool.get(spec_key("hf", other), loader("other")) == "other"
    assert calls == ["a", "other"] and pool.loads == 2


def test_key_is_order_independent_and_kind_scoped():
    assert spec_key("hf", {"a": 1, "b": 2}) == spec_key("hf", {"b": 2, "a": 1})
    assert spec_key("hf", {"a": 1}) != spec_key("vllm", {"a": 1})
