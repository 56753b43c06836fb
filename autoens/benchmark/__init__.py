"""Benchmark suites of autoens fits: run definitions, resumable runs and reports.

Needs the ``benchmark`` extra (``pip install 'autoens[benchmark]'``: openml,
matplotlib, autorank); importing this package without it raises
:class:`autoens._extras.MissingExtraError`, an :class:`ImportError` naming the extra.
"""

from autoens._extras import require_extra

require_extra("benchmark", "autoens.benchmark (and `autoens benchmark ...`)")
