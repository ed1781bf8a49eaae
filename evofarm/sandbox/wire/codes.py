"""Exit statuses of the sandboxed candidate process that the parent understands
when no result message arrived."""

from __future__ import annotations

EXIT_MEMORY = 86
"""The candidate ran out of memory even for reporting that it did."""

EXIT_INTERNAL = 87
"""The child's own protocol handling failed (no job arrived, a broken pipe)."""
