"""Subsidy programmes: rules as data files, evaluated per station with reasons.

:mod:`.programmes` reads and checks the files in ``data/subsidy/``; :mod:`.evaluate`
gives every station a verdict, an amount and a reason per criterion; :mod:`.report`
turns the result into JSON, CSV and XLSX that are byte-identical for the same inputs.
"""
