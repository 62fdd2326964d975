"""Geometry that knows nothing about stations: CRS, projections, China map datums, coverage."""
