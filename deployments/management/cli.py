"""What the AWS-CLI-style commands (`stop_deployment`, `list_deployments`, `get_deployment`) share.

- Exit codes in the AWS CLI v2 convention: 252 when the command line (or --cli-input-json/yaml) cannot be
  parsed or validated, before anything is done; 254 when AppConfig or the portal's rules refuse (unknown
  user, no permission, unknown ids, a deployment that cannot be stopped); 255 for anything else.
- Every error is one line on stderr, `error: <message>`, without a traceback (`--traceback` shows one).
  Argparse's own errors take the same path, from the shell and from `call_command` alike.
- Options, skeletons and input validation come from botocore's service model (read here, never sent: this
  module talks to nobody, `deployments/appconfig.py` stays the only door to AWS), so they follow AppConfig as
  the AWS CLI does.
- AppConfig's output shapes (Deployment, DeploymentSummary) are built from the cache in the model's member
  order and printed as `aws --output json` prints them.
"""

from __future__ import annotations

import argparse
import functools
import json
import re
import sys
import xml.dom.minidom
from datetime import UTC, datetime
from pathlib import Path
from typing import Any, NoReturn
from xml.parsers.expat import ExpatError

import botocore.session
import yaml
from botocore import xform_name
from botocore.exceptions import ParamValidationError
from botocore.utils import ArgumentGenerator
from botocore.validate import validate_parameters
from django.contrib.auth import get_user_model
from django.contrib.auth.models import AbstractBaseUser
from django.core.management.base import BaseCommand, CommandError, CommandParser, handle_default_options
from django.db import connections

from deployments import access
from deployments.appconfig import AppConfigError
from deployments.models import Account, Application, Deployment, DeploymentEvent, Environment
from deployments.sync import DEPLOYMENT_FIELDS
from portal.files import MIB, FileRefused, open_regular_file

EXIT_PARSE = 252
EXIT_SERVICE = 254
EXIT_OTHER = 255
EXIT_INTERRUPTED = 130

FILE_PREFIX = "file://"


def parse_error(message: str) -> CommandError:
    return CommandError(message, returncode=EXIT_PARSE)


def service_error(message: str) -> CommandError:
    return CommandError(message, returncode=EXIT_SERVICE)


def appconfig_error(exc: AppConfigError) -> CommandError:
    # The AWS CLI's rule: an error answer from the service is 254; no answer at all (unreachable endpoint,
    # timeout, no credentials, a malformed body) is 255.
    return CommandError(str(exc), returncode=EXIT_SERVICE if exc.status is not None else EXIT_OTHER)


def one_line(message: object) -> str:
    return " ".join(str(message).split())


# ---------------------------------------------------------------------------------------------------------
# The command base: parser errors raise, every error is one line and an exit code


class _Parser(CommandParser):
    def error(self, message: str) -> NoReturn:
        # Django's parser exits with status 2 and the usage on the command line, and raises only under
        # call_command; the AWS CLI answers 252 either way.
        raise parse_error(message)


class AwsStyleCommand(BaseCommand):
    # System checks may print warnings on stderr, and a scripted call reads stderr as its error line.
    requires_system_checks: list[str] = []

    def create_parser(self, prog_name: str, subcommand: str, **kwargs: Any) -> CommandParser:
        kwargs.setdefault("allow_abbrev", False)  # the AWS CLI takes no abbreviated options either
        parser = super().create_parser(prog_name, subcommand, **kwargs)
        # BaseCommand builds a CommandParser itself; _Parser only overrides error(), so the class swap
        # keeps every argument Django added.
        parser.__class__ = _Parser
        return parser

    def run_from_argv(self, argv: list[str]) -> None:
        """BaseCommand.run_from_argv, with parse errors inside the try and one `error:` line for any
        failure (Django's lets argparse print usage and exit 2, and an unexpected error a traceback)."""
        self._called_from_command_line = True
        options = None
        try:
            parser = self.create_parser(argv[0], argv[1])
            options = parser.parse_args(argv[2:])
            cmd_options = vars(options)
            args = cmd_options.pop("args", ())
            handle_default_options(options)
            self.execute(*args, **cmd_options)
        except KeyboardInterrupt:
            sys.exit(EXIT_INTERRUPTED)
        except Exception as exc:
            if options is not None and options.traceback:
                raise
            if isinstance(exc, CommandError):
                self.stderr.write(f"error: {one_line(exc)}")
                sys.exit(exc.returncode)
            self.stderr.write(f"error: {type(exc).__name__}: {one_line(exc)}")
            sys.exit(EXIT_OTHER)
        finally:
            connections.close_all()

    def write_json(self, data: Any) -> None:
        self.stdout.write(to_json(data))


def to_json(data: Any) -> str:
    """As `aws --output json` prints (without the final newline, which OutputWrapper adds)."""
    return json.dumps(data, indent=4, ensure_ascii=False, default=_json_default)


def _json_default(value: Any) -> str:
    if isinstance(value, datetime):
        return value.isoformat()
    raise TypeError(f"cannot print a {type(value).__name__} as JSON")


# ---------------------------------------------------------------------------------------------------------
# botocore's model: options, skeletons, input validation


@functools.cache
def service_model():
    return botocore.session.get_session().get_service_model("appconfig")


def input_shape(operation: str):
    return service_model().operation_model(operation).input_shape


def option_name(member: str) -> str:
    return "--" + xform_name(member).replace("_", "-")


def integer(value: str) -> int:
    try:
        return int(value)
    except ValueError:
        raise argparse.ArgumentTypeError(f"invalid integer value: {value!r}") from None


def add_operation_arguments(parser: CommandParser, operation: str) -> None:
    """One option per member of the operation's input, as the AWS CLI derives them (ApplicationId ->
    --application-id; booleans get --x / --no-x), plus --cli-input-json, --cli-input-yaml and
    --generate-cli-skeleton. None is required here: a value may come from the input file instead."""
    for member, shape in input_shape(operation).members.items():
        name = option_name(member)
        help_text = doc_overview(shape.documentation)
        if shape.type_name == "boolean":
            parser.add_argument(name, action=argparse.BooleanOptionalAction, default=None, help=help_text)
        elif shape.type_name in ("integer", "long"):
            parser.add_argument(name, type=integer, help=help_text)
        else:
            parser.add_argument(name, help=help_text)
    parser.add_argument(
        "--cli-input-json",
        metavar="JSON",
        help="arguments as JSON (a string, or file://path); values on the command line override them",
    )
    parser.add_argument(
        "--cli-input-yaml",
        metavar="YAML",
        help="arguments as YAML (a string, or file://path); may not be given with --cli-input-json",
    )
    parser.add_argument(
        "--generate-cli-skeleton",
        nargs="?",
        const="input",
        choices=["input", "yaml-input", "output"],
        help="print a sample input (JSON, or YAML with yaml-input) and do nothing else; `output`: validate "
        "the arguments and print a sample output",
    )


def input_skeleton_json(operation: str) -> str:
    """`--generate-cli-skeleton [input]`: exactly what the AWS CLI prints, final newline included."""
    return json.dumps(ArgumentGenerator().generate_skeleton(input_shape(operation)), indent=4) + "\n"


def input_skeleton_yaml(operation: str) -> str:
    """`--generate-cli-skeleton yaml-input`: the AWS CLI v2's YAML, each member with an end-of-line comment
    ("[REQUIRED]" and the first sentence of its documentation). Scalar members only, which is what the
    operations here take."""
    shape = input_shape(operation)
    skeleton = ArgumentGenerator().generate_skeleton(shape)
    lines = []
    for member, member_shape in shape.members.items():
        line = f"{member}: {_yaml_scalar(skeleton[member])}"
        required = "[REQUIRED]" if member in shape.required_members else ""
        comment = " ".join(part for part in (required, doc_overview(member_shape.documentation)) if part)
        lines.append(f"{line} # {comment}" if comment else line)
    return "\n".join(lines) + "\n"


def _yaml_scalar(value: Any) -> str:
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, int | float):
        return repr(value)
    if isinstance(value, str):
        return json.dumps(value) if value else "''"
    raise ValueError(f"the YAML skeleton has no rendering for {type(value).__name__} members")


def output_skeleton(operation: str) -> Any:
    """`--generate-cli-skeleton output`: the sample output the AWS CLI builds (member names as strings)."""
    output = service_model().operation_model(operation).output_shape
    return ArgumentGenerator(use_member_names=True).generate_skeleton(output)


def doc_overview(documentation: str) -> str:
    """The first sentence of a member's documentation, tags stripped: up to the first "." or ":", then a
    "." (the AWS CLI's rule for skeleton comments)."""
    if not documentation:
        return ""
    try:
        # botocore's own model, not outside input; the AWS CLI reads it the same way.
        root = xml.dom.minidom.parseString(f"<doc>{documentation}</doc>").documentElement  # noqa: S318
        text = _node_text(root)
    except ExpatError:
        text = re.sub(r"<[^>]+>", "", documentation)
    first = re.split(r"[.:]", " ".join(text.split()), maxsplit=1)[0].strip()
    return f"{first}." if first else ""


def _node_text(node) -> str:
    if node.nodeType == node.TEXT_NODE:
        return node.data
    return "".join(_node_text(child) for child in node.childNodes)


# An input skeleton is a few hundred bytes; a megabyte is generous and still bounded.
PARAM_FILE_MAX_BYTES = MIB


def read_cli_input(*, input_json: str | None, input_yaml: str | None) -> dict[str, Any]:
    """The mapping given with --cli-input-json or --cli-input-yaml (a string or file://path); {} without."""
    if input_json is not None and input_yaml is not None:
        raise parse_error("cannot specify both --cli-input-json and --cli-input-yaml")
    if input_json is not None:
        option, text = "--cli-input-json", _param_file(input_json, "--cli-input-json")
        try:
            data = json.loads(text)
        except ValueError as exc:
            raise parse_error(f"Error parsing parameter '{option}': Invalid JSON: {exc}") from None
    elif input_yaml is not None:
        option, text = "--cli-input-yaml", _param_file(input_yaml, "--cli-input-yaml")
        try:
            data = yaml.safe_load(text)
        except yaml.YAMLError as exc:
            raise parse_error(
                f"Error parsing parameter '{option}': Invalid YAML: {_yaml_problem(exc)}"
            ) from None
    else:
        return {}
    if not isinstance(data, dict):
        raise parse_error(f"Error parsing parameter '{option}': the input must be a mapping of parameters")
    return data


def _param_file(value: str, option: str) -> str:
    # The AWS CLI reads file:// paramfiles before parsing; an unreadable one is a command-line error (252).
    if not value.startswith(FILE_PREFIX):
        return value
    path = Path(value[len(FILE_PREFIX) :]).expanduser()
    try:
        # A regular file of bounded size only: file:///dev/zero once read until the kernel killed it.
        with open_regular_file(path, max_bytes=PARAM_FILE_MAX_BYTES) as stream:
            return stream.read()
    except (OSError, UnicodeDecodeError, FileRefused) as exc:
        raise parse_error(
            f"Error parsing parameter '{option}': Unable to load paramfile {value}: {exc}"
        ) from None


def _yaml_problem(exc: yaml.YAMLError) -> str:
    mark = getattr(exc, "problem_mark", None)
    problem = getattr(exc, "problem", None) or str(exc)
    return f"{problem} (line {mark.line + 1}, column {mark.column + 1})" if mark else problem


def call_parameters(operation: str, options: dict[str, Any]) -> tuple[dict[str, Any], list[str]]:
    """The operation's input: the --cli-input-json/yaml mapping, then the command line's values over it.
    Returns the parameters and the options of the required members still missing (for the caller to report
    with its own); raises 252 for unknown keys and wrong types, as botocore's validation words them."""
    shape = input_shape(operation)
    params = read_cli_input(
        input_json=options.get("cli_input_json"), input_yaml=options.get("cli_input_yaml")
    )
    for member in shape.members:
        value = options.get(xform_name(member))
        if value is not None:
            params[member] = value
    missing = [m for m in shape.required_members if params.get(m) in (None, "")]
    problems = []
    try:
        validate_parameters({k: v for k, v in params.items() if k not in missing}, shape)
    except ParamValidationError as exc:
        # Missing members are the caller's to report, with its own required options, in the CLI's words.
        problems = [p for p in str(exc).splitlines()[1:] if p and not p.startswith("Missing required")]
    for member, member_shape in shape.members.items():
        # botocore lets True through as an integer (bool is an int in Python); AppConfig would not.
        if member_shape.type_name in ("integer", "long") and isinstance(params.get(member), bool):
            value = params[member]
            problems.append(
                f"Invalid type for parameter {member}, value: {value}, type: {type(value)}, "
                "valid types: <class 'int'>"
            )
    if problems:
        raise parse_error("Parameter validation failed: " + "; ".join(problems))
    return params, [option_name(m) for m in missing]


def require(missing: list[str]) -> None:
    if missing:
        raise parse_error(f"the following arguments are required: {', '.join(missing)}")


# ---------------------------------------------------------------------------------------------------------
# Who acts, and what they may see


def user_named(username: str) -> AbstractBaseUser:
    User = get_user_model()  # noqa: N806
    try:
        user = User.objects.get_by_natural_key(username)
    except User.DoesNotExist:
        raise service_error(f"no user named {username!r}") from None
    if not user.is_active:
        raise service_error(f"user {username!r} is inactive")
    return user


def add_account_argument(parser: CommandParser) -> None:
    parser.add_argument(
        "--account",
        metavar="NAME",
        help="the console Account (its name) holding the application: needed when several accounts have an "
        "application with this id (ids are unique only per account)",
    )


def _account_candidates(user: AbstractBaseUser | None, account: str | None, application_id: str) -> list[str]:
    """The names of the accounts holding an application with this id that `user` (when given) may see, or
    just `account` when given; 252 for an unknown account name, 254 when the id is in several accounts and
    no --account says which (acting on the wrong one of two is worse than asking)."""
    if account is not None:
        if not Account.objects.filter(name=account).exists():
            known = ", ".join(Account.objects.values_list("name", flat=True)) or "none"
            raise parse_error(f"no account named {account!r} (accounts: {known})")
        return [account]
    applications = Application.objects.filter(application_id=application_id)
    if user is not None:
        applications = applications.filter(access.holds_on(user, access.VIEW, "pk"))
    names = sorted(set(applications.values_list("account__name", flat=True)))
    if len(names) > 1:
        raise service_error(
            f"application id {application_id!r} exists in several accounts ({', '.join(names)}): "
            "say which with --account NAME"
        )
    return names


def find_environment(
    user: AbstractBaseUser | None, application_id: str, environment_id: str, account: str | None = None
) -> Environment:
    """The cached environment, if `user` (when given; the read commands take none: whoever runs manage.py
    already holds the database) may see its application; 254 otherwise, the same answer for "no such
    environment" and "not yours to see", as the web's 404. `account`: the Account's name, required when the
    application id exists in several accounts."""
    names = _account_candidates(user, account, application_id)
    environment = None
    if names:
        environments = Environment.objects.select_related("application__account").filter(
            application__account__name=names[0],
            application__application_id=application_id,
            environment_id=environment_id,
        )
        if user is not None:
            environments = environments.filter(access.holds_on(user, access.VIEW, "application"))
        environment = environments.first()
    if environment is None:
        raise service_error(
            f"ResourceNotFoundException: no environment {environment_id!r} of application "
            f"{application_id!r} in the console"
            + (f" visible to {user.get_username()}" if user is not None else "")
        )
    return environment


def find_deployment(
    user: AbstractBaseUser | None,
    application_id: str,
    environment_id: str,
    deployment_number: int,
    account: str | None = None,
) -> Deployment | None:
    """The cached deployment (None when there is none), with the same account rule as `find_environment`."""
    names = _account_candidates(user, account, application_id)
    if not names:
        return None
    deployments = Deployment.objects.select_related("environment__application__account").filter(
        environment__application__account__name=names[0],
        environment__application__application_id=application_id,
        environment__environment_id=environment_id,
        deployment_number=deployment_number,
    )
    if user is not None:
        deployments = deployments.filter(access.holds_on(user, access.VIEW, "environment__application"))
    return deployments.first()


def deployment_not_found(environment: Environment, deployment_number: int) -> CommandError:
    return service_error(
        f"ResourceNotFoundException: no deployment {deployment_number} in environment "
        f"{environment.environment_id!r} of application {environment.application.application_id!r}"
    )


# ---------------------------------------------------------------------------------------------------------
# AppConfig's shapes from the cache


def _utc(value: datetime | None) -> datetime | None:
    return value.astimezone(UTC) if value is not None and value.tzinfo is not None else value


def _in_model_order(shape_name: str, values: dict[str, Any]) -> dict[str, Any]:
    """The members of `shape_name` that have a value, in the model's order. Empty strings and None are
    members AppConfig would not have returned; zeros and lists are kept."""
    members = service_model().shape_for(shape_name).members
    return {member: values[member] for member in members if values.get(member) not in (None, "")}


def _deployment_values(deployment: Deployment) -> dict[str, Any]:
    values = {member: getattr(deployment, attr) for member, attr in DEPLOYMENT_FIELDS.items()}
    values["DeploymentNumber"] = deployment.deployment_number
    values["StartedAt"] = _utc(deployment.started_at)
    values["CompletedAt"] = _utc(deployment.completed_at)
    # A list of structures, each in the model's member order; none is no member at all.
    values["AppliedExtensions"] = [
        _in_model_order("AppliedExtension", x)
        for x in deployment.applied_extensions or ()
        if isinstance(x, dict)
    ] or None
    return values


def event_shape(event: DeploymentEvent) -> dict[str, Any]:
    invocations = [
        _in_model_order("ActionInvocation", i) for i in event.action_invocations or () if isinstance(i, dict)
    ]
    return _in_model_order(
        "DeploymentEvent",
        {
            "EventType": event.event_type,
            "TriggeredBy": event.triggered_by,
            "Description": event.description,
            "ActionInvocations": invocations or None,
            "OccurredAt": _utc(event.occurred_at),
        },
    )


def deployment_shape(deployment: Deployment) -> dict[str, Any]:
    """GetDeployment's answer as the cache holds it (EventLog newest first), AppliedExtensions, KmsKeyArn
    and KmsKeyIdentifier included when AppConfig gave them."""
    environment = deployment.environment
    values = _deployment_values(deployment)
    values["ApplicationId"] = environment.application.application_id
    values["EnvironmentId"] = environment.environment_id
    values["EventLog"] = [event_shape(e) for e in deployment.events.order_by("-sequence")]
    return _in_model_order("Deployment", values)


def deployment_summary_shape(deployment: Deployment) -> dict[str, Any]:
    """One item of ListDeployments' answer."""
    return _in_model_order("DeploymentSummary", _deployment_values(deployment))
