"""Coaching: what to say about scored reps, and in whose voice.

Built on the scoring core (its events in, ``Tip`` out), apart from it: personas as files
(``persona.py``, ``personas/``), what to say (``select.py``), the words (``templates.py``), the writer
that ties them to an optional local language model (``writer.py``, ``model.py`` with its thread), and
the full report of a recorded set (``report.py``).
"""
