"""Load generation: the locustfile (``locustfile.py``) and the open-loop schedule it paces
(``schedule``), the Locust processes that run it (``loadgen``; ``loadgen_remote`` for workers
on load machines), the request rows they write (``records``), the CPU counters sampled while
they run (``resources``), and the two patterns without the open loop: sequential logins
(``authtime``) and file transfers (``transfer``)."""
