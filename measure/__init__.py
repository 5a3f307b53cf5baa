"""The measurement core: what one point measured, judged the same way by the harness and the
analysis. It imports neither (only the standard library, numpy, pandas and scipy), and both
import it.

- measure.rows: the request-row schema (requests.csv's columns, outcomes, error classes) and
  the checks that a point's counts add up.
- measure.point: the point record (point.json's fields) and the names of a point's files.
- measure.metrics: per-point metrics (window, percentiles, counts, rates, resources).
- measure.saturation: what ran out, and in which order in time; the one limited_by parser.
- measure.capacity: the capacity bound, a step's verdict, the search's bracket and
  convergence.
"""
