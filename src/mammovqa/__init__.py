"""mammovqa: reproducible mammography VQA (MammoVQA) and report generation (AMRG)."""

__version__ = "0.1.0"
