"""Domain and storage for the rest-station service: records, hours, amenities, import/export.

Nothing here imports Flask or ``web``: imports point web -> stations -> geo.
"""
