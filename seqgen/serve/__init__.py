"""`seqgen serve`: a local composer page for the user's runs and the shipped model.

`catalog` (which runs are offered, their models loaded once), `compose` (one generation, in a
worker thread, as events), `app` (the Starlette routes and the page's assets in `static/`).
"""
