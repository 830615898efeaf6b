"""Photo validation for ingestion: pure, typed, bounded at every step.

`validate(name, size, read, limits, policy)` runs the checks in the documented order (docs/reason-codes.md)
and returns `Accepted` (the derived, upright, metadata-free JPEG and its quality) or `Rejected` (a reason
code and a detail). Nothing here performs I/O except through `read`, which is called only once the name and
the size have passed.
"""

from shared.validation.limits import Limits, QualityPolicy
from shared.validation.names import PhotoName, parse_name
from shared.validation.quality import FLAGS, Quality
from shared.validation.reasons import Reason
from shared.validation.validator import Accepted, Derived, Rejected, Verdict, validate

__all__ = [
    "FLAGS",
    "Accepted",
    "Derived",
    "Limits",
    "PhotoName",
    "Quality",
    "QualityPolicy",
    "Reason",
    "Rejected",
    "Verdict",
    "parse_name",
    "validate",
]
