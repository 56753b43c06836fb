"""Executing the notebooks under pytest (``pytest --nbmake notebooks/``) uses fast mode.

The kernels nbmake starts inherit this process's environment, so setting
``AUTOENS_FAST=1`` here shrinks every notebook's budget to well under a minute. An
explicit value wins: ``AUTOENS_FAST=0 pytest --nbmake notebooks/`` runs the full
budgets.
"""

from __future__ import annotations

import os

os.environ.setdefault("AUTOENS_FAST", "1")
