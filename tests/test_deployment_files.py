"""Structure checks for the deployment files (docker-compose.yml, Dockerfile, .env.example).

No Docker engine is needed: the compose file is read as YAML and the Dockerfile as text, and the
checks cover what would break a deployment or leak a secret.
"""

import re
import shlex
from functools import cache
from pathlib import Path

import yaml

ROOT = Path(__file__).resolve().parent.parent
COMPOSE_PATH = ROOT / "docker-compose.yml"
DOCKERFILE_PATH = ROOT / "Dockerfile"
ENV_EXAMPLE_PATH = ROOT / ".env.example"

APP_SERVICES = ("web", "worker", "beat")
LONG_RUNNING = ("proxy", "web", "worker", "beat", "db", "redis")
SECRET_VARS = ("DJANGO_SECRET_KEY", "POSTGRES_PASSWORD")
PRODUCTION_SETTINGS = "config.settings.production"
EXPORTS_PATH = "/app/exports"

# ${NAME:?message}: compose stops with the message when NAME is unset or empty.
REQUIRED_REF = re.compile(r"^\$\{(?P<name>[A-Z_][A-Z0-9_]*):\?[^}]+\}$")


@cache
def compose() -> dict:
    return yaml.safe_load(COMPOSE_PATH.read_text())


def services() -> dict:
    return compose()["services"]


def environment(service: dict) -> dict:
    """A service's environment as a dict, whether written as a mapping or as KEY=VALUE items."""
    env = service.get("environment") or {}
    if isinstance(env, list):
        return dict(item.split("=", 1) if "=" in item else (item, None) for item in env)
    return {key: (None if value is None else str(value)) for key, value in env.items()}


def words(command) -> list[str]:
    """A command or healthcheck test as a list of words, from either the list or the string form."""
    if command is None:
        return []
    if isinstance(command, str):
        return shlex.split(command)
    return [str(part) for part in command]


def volume_mounts(service: dict) -> dict[str, str]:
    """Map container path -> source for short (`src:/path[:mode]`) and long volume syntax."""
    mounts = {}
    for volume in service.get("volumes") or []:
        if isinstance(volume, str):
            source, target = volume.split(":")[:2]
        else:
            source, target = volume.get("source"), volume["target"]
        mounts[target] = source
    return mounts


def named_volume_at(service_name: str, path: str) -> str:
    mounts = volume_mounts(services()[service_name])
    assert path in mounts, f"{service_name} mounts nothing at {path}"
    source = mounts[path]
    assert source and not source.startswith(("/", ".", "~")), (
        f"{service_name}:{path} is a bind mount, not a named volume"
    )
    assert source in (compose().get("volumes") or {}), f"volume {source!r} is not declared at top level"
    return source


def all_strings(node):
    """Every key and string value under node (YAML comments are not part of it)."""
    if isinstance(node, dict):
        for key, value in node.items():
            yield str(key)
            yield from all_strings(value)
    elif isinstance(node, list):
        for item in node:
            yield from all_strings(item)
    elif isinstance(node, str):
        yield node


def healthcheck_text(service_name: str) -> str:
    return " ".join(words(services()[service_name]["healthcheck"]["test"]))


def dockerfile_instructions() -> list[tuple[str, str]]:
    """(INSTRUCTION, arguments) pairs, with line continuations joined and comments dropped."""
    text = DOCKERFILE_PATH.read_text()
    logical, current = [], ""
    for raw in text.splitlines():
        line = raw.strip()
        if not current and (not line or line.startswith("#")):
            continue
        if line.startswith("#"):
            continue
        if line.endswith("\\"):
            current += line[:-1] + " "
            continue
        logical.append(current + line)
        current = ""
    if current:
        logical.append(current)
    pairs = []
    for line in logical:
        instruction, _, args = line.partition(" ")
        pairs.append((instruction.upper(), args.strip()))
    return pairs


def cmd_words(args: str) -> list[str]:
    """Arguments of CMD/ENTRYPOINT in exec (JSON) or shell form."""
    if args.startswith("["):
        return [str(part) for part in yaml.safe_load(args)]
    return shlex.split(args)


# --- docker-compose.yml -----------------------------------------------------------------------


def test_all_services_exist():
    assert {"web", "worker", "beat", "db", "redis", "migrate"} <= set(services())


def test_app_services_run_the_project_image_with_production_settings():
    for name in (*APP_SERVICES, "migrate"):
        service = services()[name]
        build = service.get("build")
        assert build is not None, f"{name} does not build the project image"
        context = build if isinstance(build, str) else build.get("context", ".")
        assert context in (".", "./"), f"{name} builds from {context!r}, not the repository root"
        if isinstance(build, dict) and "dockerfile" in build:
            assert build["dockerfile"] == "Dockerfile"
        assert environment(service).get("DJANGO_SETTINGS_MODULE") == PRODUCTION_SETTINGS, name


def test_app_services_share_one_image_and_environment():
    web = services()["web"]
    for name in ("worker", "beat", "migrate"):
        service = services()[name]
        assert service.get("build") == web.get("build"), name
        assert service.get("image") == web.get("image"), name
        assert environment(service) == environment(web), name


def test_app_environment_points_at_the_compose_database_and_broker():
    env = environment(services()["web"])
    assert re.fullmatch(
        r"postgres(ql)?://registry:\$\{POSTGRES_PASSWORD:\?[^}]+\}@db:5432/registry",
        env["DATABASE_URL"],
    )
    assert env["CELERY_BROKER_URL"] == "redis://redis:6379/0"
    for required in (
        "DJANGO_SECRET_KEY",
        "ALLOWED_HOSTS",
        "DJANGO_SECURE_SSL_REDIRECT",
    ):
        assert env.get(required), f"{required} is not passed to the app"


def test_database_credentials_match_the_app_url():
    db_env = environment(services()["db"])
    assert db_env["POSTGRES_USER"] == "registry"
    assert db_env["POSTGRES_DB"] == "registry"
    password_ref = re.search(
        r"(\$\{POSTGRES_PASSWORD:\?[^}]+\})",
        environment(services()["web"])["DATABASE_URL"],
    )
    assert password_ref
    # The same variable feeds both sides, so the app always logs in with the server's password.
    assert REQUIRED_REF.match(db_env["POSTGRES_PASSWORD"]).group("name") == "POSTGRES_PASSWORD"


def test_every_long_running_service_has_a_healthcheck_and_restarts():
    for name in LONG_RUNNING:
        service = services()[name]
        check = service.get("healthcheck")
        assert check, f"{name} has no healthcheck"
        assert not check.get("disable"), f"{name} healthcheck is disabled"
        test = words(check.get("test"))
        assert test and test[0] in ("CMD", "CMD-SHELL"), f"{name} healthcheck has no test command"
        assert len(test) > 1, f"{name} healthcheck has an empty test command"
        assert service.get("restart") == "unless-stopped", name


def test_healthchecks_probe_each_service_for_real():
    assert "pg_isready" in healthcheck_text("db")
    assert "redis-cli ping" in healthcheck_text("redis")

    web = healthcheck_text("web")
    assert "urllib" in web and ":8000/health/" in web
    assert "curl" not in web and "wget" not in web, "slim images have neither curl nor wget"

    worker = healthcheck_text("worker")
    assert "celery -A config.celery_app inspect ping" in worker
    # $$ reaches the container shell as $HOSTNAME; a single $ would be interpolated by compose.
    assert "-d celery@$$HOSTNAME" in worker


def test_beat_healthcheck_watches_the_pidfile_beat_writes():
    beat = words(services()["beat"]["command"])
    assert "--pidfile" in beat, "beat writes no pidfile for its healthcheck"
    pidfile = beat[beat.index("--pidfile") + 1]
    assert pidfile in healthcheck_text("beat")


def test_app_services_wait_for_healthy_backends_and_completed_migrations():
    for name in APP_SERVICES:
        depends_on = services()[name].get("depends_on")
        assert isinstance(depends_on, dict), f"{name} depends_on must use conditions"
        assert depends_on["db"]["condition"] == "service_healthy", name
        assert depends_on["redis"]["condition"] == "service_healthy", name
        assert depends_on["migrate"]["condition"] == "service_completed_successfully", name


def test_migrate_is_a_one_shot_that_waits_for_the_database():
    migrate = services()["migrate"]
    command = words(migrate["command"])
    assert command[-3:] == ["manage.py", "migrate", "--noinput"]
    assert migrate["depends_on"]["db"]["condition"] == "service_healthy"
    # Restarting a finished one-shot would keep re-running it (and break completed_successfully).
    assert str(migrate.get("restart", "no")) == "no"


def test_database_and_redis_data_live_on_named_volumes():
    named_volume_at("db", "/var/lib/postgresql/data")
    named_volume_at("redis", "/data")
    redis_command = words(services()["redis"].get("command"))
    assert "--appendonly" in redis_command
    assert redis_command[redis_command.index("--appendonly") + 1] == "yes"


def test_exports_volume_is_shared_by_web_and_worker():
    web_source = named_volume_at("web", EXPORTS_PATH)
    worker_source = named_volume_at("worker", EXPORTS_PATH)
    assert web_source == worker_source


def test_the_app_stores_exports_on_that_volume():
    """The exports storage reads EXPORTS_ROOT: a worker writing elsewhere would publish packages
    that the web service cannot serve."""
    for name in ("web", "worker"):
        assert environment(services()[name])["EXPORTS_ROOT"] == EXPORTS_PATH


def test_only_the_proxy_publishes_ports():
    assert sorted(str(port) for port in services()["proxy"]["ports"]) == ["443:443", "80:80"]
    for name, service in services().items():
        if name != "proxy":
            assert not service.get("ports"), f"{name} should not be reachable from the host"


def test_the_proxy_terminates_tls_and_forwards_to_gunicorn():
    """Django trusts X-Forwarded-Proto in production; that is safe only while gunicorn is reachable
    through a proxy that sets the header itself."""
    proxy = services()["proxy"]
    assert proxy["image"].startswith("caddy:2")
    assert volume_mounts(proxy)["/etc/caddy/Caddyfile"] == "./deploy/Caddyfile"
    caddyfile = (ROOT / "deploy" / "Caddyfile").read_text()
    directives = [line.strip() for line in caddyfile.splitlines() if line.strip() and not line.strip().startswith("#")]
    assert "reverse_proxy web:8000" in directives
    # Trusting no upstream proxies makes Caddy replace any X-Forwarded-* header a client sends.
    assert not any("trusted_proxies" in line for line in directives)
    assert [str(port) for port in services()["web"].get("expose", [])] == ["8000"]
    assert environment(services()["web"])["NUM_PROXIES"] == "1"
    named_volume_at("proxy", "/data")  # certificates survive the container being recreated


def test_no_literal_secrets_in_any_environment():
    seen = set()
    for name, service in services().items():
        for key, value in environment(service).items():
            if key in SECRET_VARS:
                seen.add(key)
                match = REQUIRED_REF.match(value or "")
                assert match, f"{name}.{key} must be a ${{{key}:?message}} reference, got {value!r}"
                assert match.group("name") == key
    assert seen == set(SECRET_VARS)


def test_secrets_have_no_defaults_anywhere_in_the_file():
    text = "\n".join(all_strings(compose()))
    for var in SECRET_VARS:
        references = re.findall(r"\$\{" + var + r"([^}]*)\}", text)
        assert references, f"{var} is never referenced"
        for suffix in references:
            assert suffix.startswith(":?"), f"${{{var}{suffix}}} lets compose start without the secret"
    assert "build-only" not in text


def test_dollar_signs_in_commands_are_escaped_for_compose():
    for name, service in services().items():
        texts = [" ".join(words(service.get("command")))]
        if service.get("healthcheck"):
            texts.append(healthcheck_text(name))
        for text in texts:
            unescaped = re.sub(r"\$\$", "", text)
            assert "$" not in unescaped, f"{name}: compose would interpolate {text!r}"


def test_web_runs_gunicorn_on_the_wsgi_application():
    command = words(services()["web"]["command"])
    assert command[0] == "gunicorn"
    assert "config.wsgi:application" in command
    assert "0.0.0.0:8000" in command


def test_worker_and_beat_run_the_celery_app():
    worker = words(services()["worker"]["command"])
    assert worker[:4] == ["celery", "-A", "config.celery_app", "worker"]
    beat = words(services()["beat"]["command"])
    assert beat[:4] == ["celery", "-A", "config.celery_app", "beat"]
    schedule = beat[beat.index("--schedule") + 1]
    # On a named volume, so the schedule survives the container being recreated.
    named_volume_at("beat", str(Path(schedule).parent))


def test_every_named_volume_in_use_is_declared():
    declared = set(compose().get("volumes") or {})
    for name, service in services().items():
        for target, source in volume_mounts(service).items():
            if source and not source.startswith(("/", ".", "~")):
                assert source in declared, f"{name} mounts undeclared volume {source!r} at {target}"


# --- .env.example -----------------------------------------------------------------------------


def test_env_example_lists_every_variable_compose_requires():
    text = ENV_EXAMPLE_PATH.read_text()
    defined = dict(
        line.split("=", 1) for line in text.splitlines() if line.strip() and not line.lstrip().startswith("#")
    )
    required = set(re.findall(r"\$\{([A-Z_][A-Z0-9_]*):\?", "\n".join(all_strings(compose()))))
    assert required == set(SECRET_VARS)
    for var in required:
        assert var in defined, f".env.example does not mention {var}"
    assert "ALLOWED_HOSTS" in defined
    assert "secrets.token_urlsafe" in text


# --- Dockerfile -------------------------------------------------------------------------------


def test_dockerfile_builds_from_python_311():
    froms = [args for instruction, args in dockerfile_instructions() if instruction == "FROM"]
    assert froms and froms[-1].startswith("python:3.11")


def test_dockerfile_runs_as_a_non_root_user():
    users = [args for instruction, args in dockerfile_instructions() if instruction == "USER"]
    assert users, "no USER line: the container would run as root"
    user = users[-1].split(":")[0]
    assert user not in ("root", "0")


def test_dockerfile_installs_requirements():
    instructions = dockerfile_instructions()
    assert any(i == "COPY" and "requirements.txt" in args for i, args in instructions)
    runs = [args for i, args in instructions if i == "RUN"]
    assert any(re.search(r"pip install\b.*-r requirements\.txt", run) for run in runs)
    env_lines = " ".join(args for i, args in instructions if i == "ENV")
    assert "PIP_NO_CACHE_DIR" in env_lines


def test_dockerfile_collects_static_files_without_baking_in_a_secret():
    instructions = dockerfile_instructions()
    collect = [args for i, args in instructions if i == "RUN" and "collectstatic" in args]
    assert collect and "--noinput" in collect[0]
    # Production settings refuse to load without these; throwaway values go to this RUN only.
    for var in ("DJANGO_SECRET_KEY", "DATABASE_URL", "ALLOWED_HOSTS"):
        assert f"{var}=" in collect[0], f"collectstatic RUN does not set {var}"
    for instruction, args in instructions:
        if instruction in ("ENV", "ARG"):
            assert "SECRET" not in args and "DATABASE_URL" not in args, f"{instruction} {args} persists in the image"


def test_dockerfile_cmd_runs_gunicorn():
    instructions = dockerfile_instructions()
    cmds = [args for i, args in instructions if i == "CMD"]
    assert cmds
    command = cmd_words(cmds[-1])
    assert command[0] == "gunicorn"
    assert "config.wsgi:application" in command
    assert "0.0.0.0:8000" in command
    assert any(i == "EXPOSE" and "8000" in args.split() for i, args in instructions)


def test_dockerignore_keeps_local_state_and_secrets_out_of_the_image():
    patterns = {
        line.strip().rstrip("/")
        for line in (ROOT / ".dockerignore").read_text().splitlines()
        if line.strip() and not line.startswith("#")
    }
    for required in (".git", ".venv", ".env", "exports"):
        assert required in patterns, f".dockerignore does not exclude {required}"
