"""Studies: experiments that chose a constant or measured a claim (the key estimator, the
motif memory's mixing, model sizes, the polyphonic rules, the fill models' figures).

They run as ``python -m training CMD`` like the production commands, but nothing in the
production path (corpus, train, export, evaluate) depends on their results at run time;
their outputs are the reports under ``models/`` and the constants they chose."""
