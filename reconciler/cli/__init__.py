"""The one entry point, ``sepm-reconciler``: argument parsing, exit codes and human output.

Each area registers its subcommands from its own module (``desired_cmds``, ``sim_cmds``,
``controller_cmds``) so that this package stays a thin shell over the layers below.
"""
