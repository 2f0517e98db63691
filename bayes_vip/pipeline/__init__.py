"""The pipeline layer: what each command does end to end.

One module per job: ``simulate``, ``calibrate``, ``fit``, ``sample``, ``studies`` (toy
studies), ``transport``, ``train`` (the peak finder), ``convert`` and ``info``. Each takes a
run (or its inputs), a validated configuration (``io.config``) and a ``progress`` reporter
(``pipeline.progress``), calls the analysis layers, writes the results through ``io`` and
returns a JSON-serialisable record. The CLI calls exactly one of them per command.

Submodules are imported explicitly; importing this package loads nothing heavy.
"""
