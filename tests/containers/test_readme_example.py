"""The README's example test ("Use it in your integration tests"), copied into a project of
its own and run with pytest as a user would: the plugin's fixtures come from the installed
package's entry point, nothing from this repository's tests."""

import os
import re
import subprocess
import sys

from tests.support.nodes import REPO_ROOT

EXAMPLE = re.compile(r"<!-- example-test: start -->\n```python\n(.*?)```\n<!-- example-test: end -->",
                     re.DOTALL)


def readme_example() -> str:
    found = EXAMPLE.search((REPO_ROOT / "README.md").read_text())
    assert found, "the README has no example test between its markers"
    return found.group(1)


def test_the_readme_example_passes_in_a_project_of_its_own(docker_engine, service_image,
                                                           elasticsearch_image, tmp_path):
    (tmp_path / "test_sync_jobs.py").write_text(readme_example())
    env = {**os.environ, "CONNECTOR_SYNC_JOBS_IMAGE": service_image,
           "CONNECTOR_SYNC_JOBS_ELASTICSEARCH_IMAGE": elasticsearch_image}
    ran = subprocess.run([sys.executable, "-m", "pytest", "-q", "-p", "no:cacheprovider",
                          "--rootdir", str(tmp_path), str(tmp_path)],
                         cwd=tmp_path, env=env, capture_output=True, text=True, timeout=600)
    assert ran.returncode == 0, ran.stdout[-4000:] + ran.stderr[-2000:]
    assert re.search(r"^2 passed", ran.stdout, re.MULTILINE), ran.stdout[-2000:]
