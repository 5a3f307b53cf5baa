"""The model (issue 19): the study's question answered from any machine.

Measured service demands (``demands``), topologies of CPU pools (``topology``), a simpy
simulation of the open-loop schedule through them (``simulate``), validation on what the
model was not fitted on (``validate``), projected verdicts with break-even core speeds
(``projection``), and the report's section with figure 9 (``figure``, ``section``);
``run.run_model`` does all of it for one sweep. Every assumption is listed in
``section.ASSUMPTIONS`` (printed in the report).
"""
