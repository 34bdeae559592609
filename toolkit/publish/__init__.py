"""Stage 4, publish: upload dists to an index (the legacy upload API).

form.py builds the upload form from a dist's metadata; the check stage judges
that same form, so what check passes is what publish sends.
"""
