"""HTML discrepancy reports built from ``--results`` files: ``python -m reports build`` or ``pytest --report``.

data.py (reading records), environments.py (comparing environments), figures.py (SVG figures),
build.py (rendering through templates/report.html.j2). See docs/report.md.
"""
