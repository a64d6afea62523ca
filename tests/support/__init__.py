"""Test support shared by every test module (and by ``coptwin bench --suite latency``).

Importable as ``tests.support`` wherever coptwin is installed for development
(``uv sync``: the editable install puts the repository root on ``sys.path``); it is
never part of the wheel or of the Kit extension.

* :mod:`tests.support.servers` -- local SeaweedFS (S3 + filer events) and mosquitto;
* :mod:`tests.support.wait` -- bounded waiting for a condition;
* :mod:`tests.support.require` -- a missing prerequisite skips locally, fails under CI.
"""
