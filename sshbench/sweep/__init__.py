"""A sweep: the config read and expanded into points and their run order (``sweep``), one
point run and recorded (``point``), a capacity search (``capacity``), the console's progress
(``progress``) and the provenance every point carries (``provenance``)."""
