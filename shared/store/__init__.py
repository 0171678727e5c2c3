"""The pipeline's database: ids, states and times only, never a child's personal data."""

from shared.store import idempotency as _idempotency  # noqa: F401  (its table joins Base.metadata)
from shared.store import report_history as _report_history  # noqa: F401  (its tables join Base.metadata)
