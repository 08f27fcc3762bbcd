"""Error diagnosis of keypoint results (``bench analyze``): localisation error types, background
errors, scoring errors and the AP each costs, overall and per crowd bucket."""
from .analyze import ANALYSIS_FORMAT, analyze_files, analyze_loaded

__all__ = ["ANALYSIS_FORMAT", "analyze_files", "analyze_loaded"]
