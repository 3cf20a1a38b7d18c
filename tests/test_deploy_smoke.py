"""Deploy smoke test (fast, no server): the flows import, deploy/prefect.yaml is what `prefect deploy` accepts and
matches the flows, the Kubernetes pool template, the Dockerfile and the Dask manifests agree, no secrets."""

from __future__ import annotations

import importlib
import inspect
import json
import pkgutil
import re
import shlex
import shutil
import subprocess
from datetime import UTC, datetime
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

import pytest
import yaml

from tests.conftest import REPO

DEPLOY = REPO / "deploy"
PREFECT_YAML = DEPLOY / "prefect.yaml"
K8S_TEMPLATE = DEPLOY / "k8s" / "base-job-template.json"
DOCKERFILE = DEPLOY / "Dockerfile"
DASK_DIR = DEPLOY / "dask"

PROCESS_POOL, K8S_POOL = "govreports-process", "govreports-k8s"
EXPECTED = {  # deployment name -> (entrypoint, work pool, scheduled)
    "nightly": ("flows/pipeline.py:nightly", PROCESS_POOL, True),
    "backfill": ("flows/pipeline.py:backfill", PROCESS_POOL, False),
    "nightly-k8s": ("flows/pipeline.py:nightly", K8S_POOL, True),
    "backfill-k8s": ("flows/pipeline.py:backfill", K8S_POOL, False),
}
PER_RUN_PARAMETERS = {"backfill": {"years"}}  # required flow parameters every run names itself (no deployment default)
STORAGE_VARIABLES = {"govreports_source", "govreports_dest"}
DEPLOY_ENV = {"GOVREPORTS_IMAGE"}
PLACEHOLDER = re.compile(r"{{\s*([\w.\-\[\]$]+)\s*}}")  # prefect.utilities.templating's placeholder syntax


# ---------------------------------------------------------------------------------------------------------------
# helpers

def load_prefect_yaml() -> dict[str, Any]:
    return yaml.safe_load(PREFECT_YAML.read_text(encoding="utf-8"))


def deployments() -> list[dict[str, Any]]:
    return load_prefect_yaml()["deployments"]


def deployment(name: str) -> dict[str, Any]:
    return next(d for d in deployments() if d["name"] == name)


def k8s_template() -> dict[str, Any]:
    return json.loads(K8S_TEMPLATE.read_text(encoding="utf-8"))


def step_of(step: dict[str, Any]) -> tuple[str, dict[str, Any]]:
    """A prefect.yaml action step is a one-key mapping: fully qualified function name -> its inputs."""
    assert len(step) == 1, f"a step must have exactly one function name: {step}"
    ((fqn, inputs),) = step.items()
    return fqn, inputs or {}


def placeholders(value: Any) -> set[str]:
    return set(PLACEHOLDER.findall(json.dumps(value)))


def dockerfile_instructions() -> list[tuple[str, str]]:
    """(INSTRUCTION, arguments) pairs, continuation lines joined, comments dropped."""
    out: list[tuple[str, str]] = []
    buf = ""
    for raw in DOCKERFILE.read_text(encoding="utf-8").splitlines():
        line = raw.strip()
        if not buf and (not line or line.startswith("#")):
            continue
        if line.startswith("#"):
            continue
        buf += (" " if buf else "") + line.rstrip("\\").strip()
        if not line.endswith("\\"):
            word, _, rest = buf.partition(" ")
            out.append((word.upper(), rest.strip()))
            buf = ""
    assert not buf, "the Dockerfile ends inside a continued line"
    return out


def dask_documents() -> list[dict[str, Any]]:
    kustomization = yaml.safe_load((DASK_DIR / "kustomization.yaml").read_text(encoding="utf-8"))
    docs: list[dict[str, Any]] = []
    for res in kustomization["resources"]:
        docs += [d for d in yaml.safe_load_all((DASK_DIR / res).read_text(encoding="utf-8")) if d]
    return docs


def by_kind_name(docs: list[dict[str, Any]], kind: str, name: str) -> dict[str, Any]:
    found = [d for d in docs if d["kind"] == kind and d["metadata"]["name"] == name]
    assert len(found) == 1, f"expected one {kind} {name!r} in deploy/dask/"
    return found[0]


# ---------------------------------------------------------------------------------------------------------------
# flows

def test_every_flow_module_imports_and_the_deployed_flows_exist():
    from prefect import Flow

    import flows

    flows_found: dict[str, Flow] = {}
    for mod in pkgutil.iter_modules(flows.__path__):
        module = importlib.import_module(f"flows.{mod.name}")
        flows_found |= {obj.name: obj for obj in vars(module).values() if isinstance(obj, Flow)}
    assert {"nightly", "backfill"} <= set(flows_found)


# ---------------------------------------------------------------------------------------------------------------
# prefect.yaml

def test_prefect_yaml_is_what_prefect_deploy_accepts():
    from prefect.cli.deploy._models import DeploymentConfig, PrefectYamlModel, WorkPoolConfig

    raw = load_prefect_yaml()
    # `prefect deploy` prints a warning and skips the whole file when this fails: fail loudly here instead
    model = PrefectYamlModel.model_validate(raw)
    assert [d.name for d in model.deployments] == list(EXPECTED)
    for dep in raw["deployments"]:
        # unknown keys are silently ignored by prefect (extra="ignore"): a typo would drop a setting
        assert set(dep) <= set(DeploymentConfig.model_fields), f"{dep['name']}: unknown keys {set(dep) - set(DeploymentConfig.model_fields)}"
        assert set(dep["work_pool"]) <= set(WorkPoolConfig.model_fields)
        for action in ("build", "push", "pull"):
            for step in dep.get(action) or []:
                fqn, _ = step_of(step)
                from prefect.utilities.importtools import import_object

                assert callable(import_object(fqn)), fqn


def test_shared_settings_are_yaml_anchors():
    text = PREFECT_YAML.read_text(encoding="utf-8")
    raw = load_prefect_yaml()
    assert "definitions" in raw
    for anchor in ("process_pool", "k8s_pool", "process_job_variables", "k8s_job_variables", "storage",
                   "nightly_schedule", "never_overlap"):
        assert f"&{anchor}" in text, f"missing anchor &{anchor}"
        assert f"*{anchor}" in text, f"anchor &{anchor} is never used"


@pytest.mark.parametrize("name", list(EXPECTED))
def test_entrypoint_resolves_to_the_flow_and_parameters_match_its_signature(name, monkeypatch):
    from prefect.flows import load_flow_from_entrypoint

    entrypoint, pool, _ = EXPECTED[name]
    dep = deployment(name)
    assert dep["entrypoint"] == entrypoint
    assert dep["work_pool"]["name"] == pool
    monkeypatch.chdir(REPO)  # `prefect deploy` runs from the repository root; entrypoints are relative to it
    flow = load_flow_from_entrypoint(entrypoint)
    assert flow.name == entrypoint.rsplit(":", 1)[1]

    signature = inspect.signature(flow.fn)
    params = dep.get("parameters") or {}
    assert set(params) <= set(signature.parameters), f"unknown parameters {set(params) - set(signature.parameters)}"
    required = {p for p, spec in signature.parameters.items() if spec.default is inspect.Parameter.empty}
    per_run = PER_RUN_PARAMETERS.get(flow.name, set())
    assert required - per_run <= set(params), f"required parameters without a value: {required - per_run - set(params)}"
    assert not per_run & set(params), f"{per_run} must be given per run, not fixed in the deployment"
    for schedule in dep.get("schedules") or []:
        assert set(schedule.get("parameters") or {}) <= set(signature.parameters)
    # the flows take one settings object; the deployment fixes nothing beside it (what a run does, `full` or
    # `years`, is given per run)
    assert set(params) == {"settings"}, set(params)

    # the values have the flow's types (templates are strings, as source and dest are)
    example = {"years": [2023]} if "years" in per_run else {}
    flow.validate_parameters({**params, **example})
    # and the parameter schema prefect deploy stores accepts them
    from prefect.utilities.callables import parameter_schema
    from prefect.utilities.schema_tools import validate

    assert validate({**params, **example}, parameter_schema(flow).model_dump_for_openapi(), raise_on_error=False) == []


def test_storage_urls_come_from_prefect_variables_and_never_inline():
    for dep in deployments():
        settings = dep["parameters"]["settings"]  # the flows' one settings object
        assert settings["source"] == "{{ prefect.variables.govreports_source }}"
        assert settings["dest"] == "{{ prefect.variables.govreports_dest }}"


def test_every_placeholder_is_one_prefect_deploy_resolves():
    """Prefect Variables, deploy-time environment variables, or outputs of the deployment's own build steps."""
    for dep in deployments():
        step_ids = {inputs["id"] for step in dep.get("build") or [] for _, inputs in [step_of(step)] if "id" in inputs}
        for ph in placeholders(dep):
            if ph.startswith("prefect.variables."):
                assert ph.removeprefix("prefect.variables.") in STORAGE_VARIABLES, ph
            elif ph.startswith("$"):
                assert ph[1:] in DEPLOY_ENV, ph
            else:
                assert ph.split(".", 1)[0] in step_ids, f"{dep['name']}: {ph!r} is not the output of a build step"


def test_deploying_refuses_unset_storage_urls_and_image():
    """An unset Prefect Variable templates to "": the flow would then write the lake into its working directory."""
    for dep in deployments():
        checks = [inputs for step in dep["build"] for fqn, inputs in [step_of(step)]
                  if fqn.endswith("run_shell_script") and str(inputs.get("id", "")).startswith("check-")]
        checked = placeholders(checks)
        assert {f"prefect.variables.{v}" for v in STORAGE_VARIABLES} <= checked, dep["name"]
        if dep["work_pool"]["name"] == K8S_POOL:
            assert "$GOVREPORTS_IMAGE" in checked


@pytest.mark.parametrize("name", [n for n, (_, _, scheduled) in EXPECTED.items() if scheduled])
def test_nightly_runs_at_two_in_the_morning_beijing_time_and_never_overlaps(name):
    from cronsim import CronSim
    from prefect.client.schemas.objects import ConcurrencyLimitStrategy
    from prefect.client.schemas.schedules import CronSchedule

    dep = deployment(name)
    (schedule,) = dep["schedules"]
    assert schedule["cron"] == "0 2 * * *"
    assert schedule["timezone"] == "Asia/Shanghai"
    assert schedule.get("active", True) is True
    CronSchedule(cron=schedule["cron"], timezone=schedule["timezone"])  # prefect's own validation
    tz = ZoneInfo(schedule["timezone"])
    fires = CronSim(schedule["cron"], datetime(2025, 6, 30, 12, 0, tzinfo=tz))
    first, second = next(fires), next(fires)
    assert first == datetime(2025, 7, 1, 2, 0, tzinfo=tz)
    assert first.astimezone(UTC) == datetime(2025, 6, 30, 18, 0, tzinfo=UTC)
    assert (second - first).total_seconds() == 86400

    limit = dep["concurrency_limit"]
    assert limit["limit"] == 1
    assert ConcurrencyLimitStrategy(limit["collision_strategy"]) is ConcurrencyLimitStrategy.CANCEL_NEW


def test_backfills_are_on_demand():
    for name in ("backfill", "backfill-k8s"):
        assert not deployment(name).get("schedules")


def test_process_deployments_run_from_the_repository_the_deploy_ran_in():
    for name in ("nightly", "backfill"):
        dep = deployment(name)
        build = [step_of(s) for s in dep["build"]]
        (repo_step,) = [inputs for fqn, inputs in build if inputs.get("id") == "repo-dir"]
        assert repo_step["script"].strip() == "pwd"
        (pull,) = [step_of(s) for s in dep["pull"]]
        assert pull == ("prefect.deployments.steps.set_working_directory", {"directory": "{{ repo-dir.stdout }}"})


def test_process_job_variables_fit_the_process_pool():
    from prefect.utilities.schema_tools import validate
    from prefect.workers.process import ProcessWorker

    variables = ProcessWorker.get_default_base_job_template()["variables"]
    for name in ("nightly", "backfill"):
        job_vars = deployment(name)["work_pool"]["job_variables"]
        assert set(job_vars) <= set(variables["properties"])
        assert validate(job_vars, variables, raise_on_error=False, ignore_required=True) == []


# ---------------------------------------------------------------------------------------------------------------
# Kubernetes work pool

def test_k8s_base_job_template_is_what_a_kubernetes_pool_accepts():
    from prefect.server.schemas.actions import WorkPoolCreate
    from prefect.utilities.schema_tools import is_valid_schema, validate

    template = k8s_template()
    assert set(template) == {"job_configuration", "variables"}
    # the server's own check on `prefect work-pool create --base-job-template`: every {{ var }} is declared
    WorkPoolCreate(name=K8S_POOL, type="kubernetes", base_job_template=template)
    variables = template["variables"]
    is_valid_schema(variables, preprocess=False)
    defaults = {k: v["default"] for k, v in variables["properties"].items() if "default" in v}
    assert validate(defaults, variables, raise_on_error=False, ignore_required=True) == []


def test_k8s_template_keeps_everything_the_prefect_kubernetes_worker_uses():
    """prefect-kubernetes is not installed; prefect's server ships its default template (collection registry view)."""
    import prefect.server.api as server_api

    view = Path(server_api.__file__).parent / "collections_data" / "views" / "aggregate-worker-metadata.json"
    default = json.loads(view.read_text())["prefect-kubernetes"]["kubernetes"]["default_base_job_configuration"]
    template = k8s_template()
    assert set(default["job_configuration"]) <= set(template["job_configuration"])
    assert set(default["variables"]["properties"]) <= set(template["variables"]["properties"])

    manifest = template["job_configuration"]["job_manifest"]
    # what the worker's manifest validators require (prefect_kubernetes.worker._get_base_job_manifest)
    assert manifest["apiVersion"] == "batch/v1" and manifest["kind"] == "Job"
    pod = manifest["spec"]["template"]["spec"]
    assert (pod["parallelism"], pod["completions"], pod["restartPolicy"]) == (1, 1, "Never")
    container = pod["containers"][0]
    assert container["name"] == "prefect-job"
    assert container["image"] == "{{ image }}" and container["args"] == "{{ command }}" and container["env"] == "{{ env }}"
    assert pod["securityContext"]["runAsNonRoot"] is True


def test_k8s_jobs_get_the_prefect_api_and_s3_keys_from_a_secret():
    from prefect.utilities.templating import apply_values

    template = k8s_template()
    props = template["variables"]["properties"]
    assert template["job_configuration"]["env"]["PREFECT_API_URL"] == "{{ prefect_api_url }}"
    assert props["prefect_api_url"]["default"].startswith("http") and props["prefect_api_url"]["default"].endswith("/api")
    container = template["job_configuration"]["job_manifest"]["spec"]["template"]["spec"]["containers"][0]
    assert container["envFrom"] == [{"secretRef": {"name": "{{ s3_secret_name }}"}}]

    # render the job as the worker does (defaults, then the deployment's job variables, then templating)
    for name in ("nightly-k8s", "backfill-k8s"):
        job_vars = {**deployment(name)["work_pool"]["job_variables"], "image": "registry.example.com/govreports:1"}
        values = {k: v["default"] for k, v in props.items() if "default" in v} | job_vars
        rendered = apply_values(template["job_configuration"], values)
        job = rendered["job_manifest"]
        box = job["spec"]["template"]["spec"]["containers"][0]
        assert box["image"] == "registry.example.com/govreports:1"
        assert box["envFrom"][0]["secretRef"]["name"] == props["s3_secret_name"]["default"]
        assert job["metadata"]["namespace"] == rendered["namespace"] == job_vars["namespace"]
        assert box["resources"]["requests"] == {"cpu": job_vars["cpu_request"], "memory": job_vars["memory_request"]}
        assert rendered["env"]["PREFECT_API_URL"] == props["prefect_api_url"]["default"]
        assert "{{" not in json.dumps({k: v for k, v in rendered.items() if k != "command"})


def test_k8s_deployments_job_variables_fit_the_pool():
    from prefect.utilities.schema_tools import validate

    variables = k8s_template()["variables"]
    for name in ("nightly-k8s", "backfill-k8s"):
        job_vars = dict(deployment(name)["work_pool"]["job_variables"])
        assert job_vars["image"] == "{{ $GOVREPORTS_IMAGE }}"
        assert set(job_vars) <= set(variables["properties"])
        assert validate(job_vars, variables, raise_on_error=False, ignore_required=True) == []


# ---------------------------------------------------------------------------------------------------------------
# the image

def test_dockerfile_builds_the_locked_project_as_a_non_root_user():
    instructions = dockerfile_instructions()
    words = [w for w, _ in instructions]
    assert instructions[0] == ("FROM", "python:3.11-slim")
    runs = [args for w, args in instructions if w == "RUN"]
    assert any("uv sync --frozen --no-dev" in r for r in runs)
    copied = {src for w, args in instructions if w == "COPY" for src in shlex.split(args)[:-1] if not src.startswith("--")}
    assert {"pyproject.toml", "uv.lock", "README.md"} <= copied
    # the packages pyproject installs, including the one holding the entrypoints
    assert {"flows", "tasks", "schemas"} <= copied
    assert {ep.split("/", 1)[0] for ep, _, _ in EXPECTED.values()} <= copied
    users = [args for w, args in instructions if w == "USER"]
    assert users and users[-1].split(":")[0] not in ("root", "0")
    assert words.index("USER") > max(i for i, w in enumerate(words) if w == "RUN")
    # the Kubernetes worker passes `prefect flow-run execute` as args: an ENTRYPOINT would swallow them
    assert "ENTRYPOINT" not in words
    # the uv the Makefile pins
    makefile_uv = re.search(r'uv==([\d.]+)', (REPO / "Makefile").read_text()).group(1)
    assert any(f"uv=={makefile_uv}" in r for r in runs)


def test_dockerfile_workdir_is_where_the_k8s_deployments_run():
    workdirs = [args for w, args in dockerfile_instructions() if w == "WORKDIR"]
    for name in ("nightly-k8s", "backfill-k8s"):
        (pull,) = [step_of(s) for s in deployment(name)["pull"]]
        assert pull == ("prefect.deployments.steps.set_working_directory", {"directory": workdirs[-1]})


def test_dockerignore_keeps_what_the_image_copies():
    ignore = (DEPLOY / "Dockerfile.dockerignore").read_text().splitlines()
    assert "**" in ignore  # everything else (.venv, data, .git) stays out of the build context
    for path in ("pyproject.toml", "uv.lock", "README.md", "flows/", "tasks/", "schemas/"):
        assert f"!{path}" in ignore


# ---------------------------------------------------------------------------------------------------------------
# Dask

def test_dask_manifests_run_the_same_image_and_are_reached_by_the_k8s_deployments():
    docs = dask_documents()
    kustomization = yaml.safe_load((DASK_DIR / "kustomization.yaml").read_text(encoding="utf-8"))
    template = k8s_template()
    props = template["variables"]["properties"]
    assert kustomization["namespace"] == props["namespace"]["default"]  # flow-run jobs resolve the short name

    service = by_kind_name(docs, "Service", "dask-scheduler")
    scheduler = by_kind_name(docs, "Deployment", "dask-scheduler")
    worker = by_kind_name(docs, "Deployment", "dask-worker")
    assert 8786 in [p["port"] for p in service["spec"]["ports"]]
    assert service["spec"]["selector"] == scheduler["spec"]["template"]["metadata"]["labels"]
    for dep in ("nightly-k8s", "backfill-k8s"):
        settings = deployment(dep)["parameters"]["settings"]
        assert settings["runner"] == "dask"
        assert settings["dask_address"] == f"tcp://{service['metadata']['name']}:8786"

    (sched_box,) = scheduler["spec"]["template"]["spec"]["containers"]
    (work_box,) = worker["spec"]["template"]["spec"]["containers"]
    assert sched_box["command"][:2] == ["dask", "scheduler"]
    assert work_box["command"][:3] == ["dask", "worker", "tcp://dask-scheduler:8786"]
    # one image for flow-run jobs, scheduler and workers, set by kustomize
    assert sched_box["image"] == work_box["image"] == kustomization["images"][0]["name"]
    # Dask workers run Prefect task runs: they need the real API (the same one the flow-run pods use) and S3 keys
    env = {e["name"]: e.get("value") for e in work_box["env"]}
    assert env["PREFECT_API_URL"] == props["prefect_api_url"]["default"]
    assert work_box["envFrom"] == [{"secretRef": {"name": props["s3_secret_name"]["default"]}}]
    for deployment_doc in (scheduler, worker):
        assert deployment_doc["spec"]["template"]["spec"]["securityContext"]["runAsNonRoot"] is True
    # Dask's background work as in a run's own LocalCluster (flows/batches.py LOCAL_CLUSTER_CONFIG)
    from flows.batches import LOCAL_CLUSTER_CONFIG

    for key, value in LOCAL_CLUSTER_CONFIG.items():
        assert env["DASK_" + key.upper().replace(".", "__").replace("-", "_")] == str(value), key


@pytest.mark.skipif(shutil.which("kubectl") is None, reason="kubectl (with its built-in kustomize) is not installed")
def test_dask_kustomization_renders_offline():
    """`kubectl kustomize` needs no cluster: the manifests build, land in the namespace, get the image."""
    out = subprocess.run(["kubectl", "kustomize", str(DASK_DIR)], capture_output=True, text=True, timeout=60)
    assert out.returncode == 0, out.stderr
    kustomization = yaml.safe_load((DASK_DIR / "kustomization.yaml").read_text(encoding="utf-8"))
    (image,) = kustomization["images"]
    rendered = [d for d in yaml.safe_load_all(out.stdout) if d]
    assert sorted((d["kind"], d["metadata"]["name"]) for d in rendered) == [
        ("Deployment", "dask-scheduler"), ("Deployment", "dask-worker"), ("Service", "dask-scheduler")]
    assert {d["metadata"]["namespace"] for d in rendered} == {kustomization["namespace"]}
    for d in rendered:
        for box in d["spec"].get("template", {}).get("spec", {}).get("containers", []):
            assert box["image"] == f"{image['newName']}:{image['newTag']}"


# ---------------------------------------------------------------------------------------------------------------
# no secrets in deploy/

SECRET_PATTERNS = [
    ("AWS access key id", re.compile(r"\b(?:AKIA|ASIA)[0-9A-Z]{16}\b")),
    ("private key", re.compile(r"-----BEGIN [A-Z ]*PRIVATE KEY-----")),
    ("Prefect Cloud API key", re.compile(r"\bpnu_[A-Za-z0-9]{20,}")),
    ("credentials in a URL", re.compile(r"[a-z][a-z0-9+.-]*://[^/\s:@]+:[^/\s@]+@")),
    ("40-character secret key", re.compile(r"(?<![A-Za-z0-9/+=])(?=[A-Za-z0-9/+=]*[a-z])(?=[A-Za-z0-9/+=]*[A-Z])"
                                            r"(?=[A-Za-z0-9/+=]*[0-9])[A-Za-z0-9/+=]{40}(?![A-Za-z0-9/+=])")),
    ("a secret assigned a literal value", re.compile(
        r"(?i)\b[\w-]*(?:secret|password|passwd|token|api_?key|access_key)[\w-]*[\"']?\s*[:=]\s*[\"']?"
        r"(?![\"'$<{\s]|\.\.\.|\*|true\b|false\b|null\b|none\b)([^\s\"',}]{6,})")),
]


def secrets_in(text: str) -> list[str]:
    return [f"{what}: {m.group(0)[:60]}" for what, rx in SECRET_PATTERNS for m in rx.finditer(text)]


def test_the_secret_scanner_finds_secrets():
    key_id = "AKIA" + "IOSFODNN7EXAMPLE"  # AWS's documented example, assembled so no scanner flags this file
    secret = "wJalrXUtnFEMI/K7MDENG/" + "bPxRfiCYEXAMPLEKEY"
    assert secrets_in(f"AWS_ACCESS_KEY_ID={key_id}")
    assert secrets_in(f"aws_secret_access_key: {secret}")
    assert secrets_in("endpoint: https://admin:hunter22@minio.local:9000")
    assert secrets_in('PREFECT_API_KEY: "pnu_' + "a" * 36 + '"')
    assert not secrets_in('AWS_SECRET_ACCESS_KEY="$AWS_SECRET_ACCESS_KEY"')
    assert not secrets_in("--from-literal=AWS_SECRET_ACCESS_KEY=<your secret key>")


def test_no_secret_looking_value_in_any_deploy_file():
    files = [p for p in DEPLOY.rglob("*") if p.is_file()]
    assert PREFECT_YAML in files and K8S_TEMPLATE in files and DOCKERFILE in files
    found = {str(p.relative_to(REPO)): hits for p in files if (hits := secrets_in(p.read_text(encoding="utf-8")))}
    assert not found, found


# ---------------------------------------------------------------------------------------------------------------
# the operator's guide

def test_readme_covers_what_an_operator_needs():
    readme = (DEPLOY / "README.md").read_text(encoding="utf-8")
    for needle in [*EXPECTED, PROCESS_POOL, K8S_POOL, *STORAGE_VARIABLES, *DEPLOY_ENV, "govreports-run-summary",
                   "_runs/", "read_parquet", "hive_partitioning", "dask_address", "tcp://dask-scheduler:8786",
                   "PREFECT_API_URL", "govreports-s3", "--param years", "0 2 * * *", "Asia/Shanghai", "CANCEL_NEW"]:
        assert needle in readme, f"deploy/README.md does not mention {needle!r}"


def test_the_image_installs_the_ocr_extra():
    """Scanned reports are read in the image too: every uv sync installs the ocr extra, OpenCV has its libraries."""
    syncs = [args for word, args in dockerfile_instructions() if word == "RUN" and "uv sync" in args]
    assert syncs and all("--extra ocr" in args for args in syncs)
    assert any("libgl1" in args for word, args in dockerfile_instructions() if word == "RUN")
