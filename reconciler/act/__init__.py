"""Acting on a site: REST changes, site-supplied commands and operator tasks.

Every actuator only *attempts* a change. Whether it happened is decided by the next observation
(or, for what no observation can show, by an exit status or an operator's acknowledgement recorded in
the journal); the controller never records a step done on an actuator's word where SEPM can be asked.
"""
