"""The long tests the suite starts first when it runs on xdist workers (``pytest -n 2``, the
README's test command; see "Order under xdist" in tests/conftest.py), in the order they start.

The seconds are each test's, run alone one after the other (``pytest -m slow --durations=0``
on the shared 2-core machine, load average 2-4, 2026-11-30). The Fashion-MNIST CNN goes fifth,
not first: its BLAS thread count (``threads="auto"``, README "Threads") is read at each epoch
from the 1-minute load average, which in the suite's first minute still shows the machine as
it was before the suite, and its epochs last a minute; started at once it could take a
second thread beside the other worker's tests. After the four before it (about a minute on
each worker) the average shows both workers busy. It still ends long before the rest.
"""

from __future__ import annotations

LONG_TESTS = (
    "tests/test_results.py::test_mnist1d_gru_reaches_the_paper_gru",  # 41 s
    "tests/test_results.py::test_fashion_mnist_mlp",  # 40 s
    "tests/test_results.py::test_mnist1d_cnn_reaches_the_papers_cnn",  # 29 s
    "tests/test_cli.py::test_readme_command_line_section_runs_as_written",  # 25 s
    "tests/test_results.py::test_fashion_mnist_cnn_with_its_defaults",  # 475 s
    "tests/test_results.py::test_mnist1d_mlp_beats_the_paper_baseline",  # 17 s
    "tests/test_results.py::test_digits_cnn_with_the_defaults",  # 13 s
    "tests/test_reliability.py::test_concurrent_resumes_leave_a_consistent_run",  # 10 s
    "tests/test_results.py::test_digits_with_the_default_settings",  # 9 s
)
