"""Kit-free view-models of the coptwin panel.

Everything the omni.ui window shows is computed here from plain engine
snapshots, so pytest covers the panel's behaviour without Kit.  Only
:mod:`coptwin.kit` paints it.
"""
