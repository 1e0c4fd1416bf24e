"""Dataset input and result output for ``ensemble run``: readers turn rows into examples, writers
append one crash-safe JSON line per finished example and tell ``--resume`` what is already done."""

from .readers import FieldMap, RowError, read_examples
from .records import Timing, make_error_record, make_record
from .writers import OutputState, ResultWriter, read_done_ids, scan_output

__all__ = [
    "FieldMap",
    "OutputState",
    "ResultWriter",
    "RowError",
    "Timing",
    "make_error_record",
    "make_record",
    "read_done_ids",
    "read_examples",
    "scan_output",
]
