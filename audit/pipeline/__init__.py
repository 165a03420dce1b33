"""The audit pipeline, the top of the library: from a model and photos to ``results.json``.

``api`` (``audit.run``, the public entry point) loads the model and photos (``sources``),
checks and locks the output folder (``outdir``, ``lock``), and hands them to ``runner``, which
streams chunks through an attack, the PNG re-check and the journal; ``sweep`` finds minimal
budgets, ``trust`` and ``planted`` run the checks the verdict needs; ``bench`` measures speed.

May import every other part of ``audit`` (engine, attacks, results, formats, report and the
ground floor); only ``api`` may import ``victims``. Nothing below imports the pipeline, and only
``audit.cli`` imports click.
"""
