"""AWS access for every module: targets, a session per account, endpoints, retries, storage credentials.

One identity per run, the *central* one: the Airflow ``aws`` connection (``config aws.connection_id``)
in the DAGs (``Aws.from_settings``), the default boto3 credential chain on the command line
(``Aws.from_session``). Everything AWS goes through an ``Aws`` built from it:

- **Targets**: every configured account x Region (``Target``, ``resolve_targets``).
- **A session per account**: the account's ``accounts[].role_arn`` is assumed from the central
  identity, with credentials that refresh themselves before they expire; an empty ``role_arn``
  uses the central identity. In Airflow this is the amazon provider's own mechanism: a per-account
  ``AwsConnectionWrapper`` built from the connection's metadata with the role in its extra (what a
  ``role_arn`` extra on a connection does), handed to the provider's ``SessionFactory``
  (``BaseSessionFactory``, or the class ``[aws] session_factory`` names), whose assume-role
  credentials are refreshable. The connection a hook has cached is never changed. On the command
  line: botocore's assume-role credential fetcher over the base session.
- **Endpoints**: ``endpoint_url(service, explicit, connection)``, the one resolver: an explicit
  value, else the connection's (its ``service_config`` entry for the service, then its
  ``endpoint_url``), else the standard ``AWS_ENDPOINT_URL_<SERVICE>``, then ``AWS_ENDPOINT_URL``;
  none of them: the service's public endpoint. STS follows it too, so role assumption goes where
  every other call goes.
- **Retries**: ``RETRY_POLICY`` (adaptive: retries plus client-side rate limiting, since SSM and
  EC2 throttle bursts of calls) on every botocore client: SSM, EC2, S3, STS, Athena, Glue; its
  attempt count also for pyarrow's S3 filesystem (``StorageAccess.s3_max_attempts``), whose AWS SDK
  has no adaptive mode; pyiceberg's Glue catalog is handed a client made with it.
- **Storage**: ``StorageAccess``, the central identity's credentials, Region and S3/Glue endpoints
  as plain values, for the libraries that take values rather than a boto3 session (pyarrow's S3
  filesystem, pyiceberg's FileIO and Glue catalog). Nothing here reads or writes credentials
  through ``os.environ``; the endpoint resolver only reads the standard variables.
- **Pages**: ``paginate`` collects every page of a listing through botocore's paginator.

Airflow is imported only by ``Aws.from_connection``: the command line runs without it.
"""

from __future__ import annotations

import os
from collections.abc import Mapping
from dataclasses import asdict, dataclass, field
from functools import cache
from typing import TYPE_CHECKING, Any

from patch_compliance.inputs import InputError, validate_account_id

if TYPE_CHECKING:
    import boto3
    from airflow.providers.amazon.aws.hooks.base_aws import AwsBaseHook
    from airflow.providers.amazon.aws.utils.connection_wrapper import AwsConnectionWrapper
    from botocore.config import Config

    from patch_compliance.config import Account, Settings

# The one retry policy of every botocore client (total_max_attempts counts the first call).
RETRY_POLICY: Mapping[str, Any] = {"mode": "adaptive", "total_max_attempts": 10}
DEFAULT_REGION = "us-east-1"  # where botocore and pyarrow go when nothing names a Region


def client_config() -> Config:
    """The botocore ``Config`` every client gets: ``RETRY_POLICY``."""
    from botocore.config import Config

    return Config(retries=dict(RETRY_POLICY))


def endpoint_url(service: str, explicit: str | None = None, connection: AwsConnectionWrapper | None = None,
                 environ: Mapping[str, str] | None = None) -> str | None:
    """Where ``service``'s requests go: ``explicit`` > the connection's > ``AWS_ENDPOINT_URL_<SERVICE>`` >
    ``AWS_ENDPOINT_URL``; None: the service's public endpoint."""
    if explicit:
        return explicit
    if connection:
        configured = connection.get_service_endpoint_url(service)
        if configured:
            return configured
    env = os.environ if environ is None else environ
    return env.get(f"AWS_ENDPOINT_URL_{service.upper().replace('-', '_')}") or env.get("AWS_ENDPOINT_URL") or None


def paginate(client: Any, operation: str, key: str, **kwargs: Any) -> list[dict[str, Any]]:
    """Every item under ``key`` of every page of ``operation``, through botocore's paginator."""
    return [item for page in client.get_paginator(operation).paginate(**kwargs) for item in page.get(key) or []]


# --- targets ----------------------------------------------------------------------------------------


@dataclass(frozen=True)
class Target:
    """One account x Region (JSON-friendly as ``as_dict()``, so it maps across Airflow tasks)."""

    account_id: str
    account_name: str
    region: str
    role_arn: str = ""

    @property
    def label(self) -> str:
        return f"{self.account_name} ({self.account_id}) {self.region}"

    @property
    def session_name(self) -> str:
        """The assumed role's session name (CloudTrail shows it)."""
        return f"patch-compliance-{self.account_id}"

    @classmethod
    def of(cls, value: Target | Mapping[str, Any]) -> Target:
        """A target from itself or from a dict holding its keys (a task's XCom may hold more keys)."""
        target = value if isinstance(value, Target) else cls(
            value["account_id"], value["account_name"], value["region"], value.get("role_arn") or "")
        validate_account_id(target.account_id)
        return target

    @classmethod
    def of_account(cls, account: Account, region: str) -> Target:
        return cls.of(cls(account.id, account.name, region, account.role_arn))

    def as_dict(self) -> dict[str, str]:
        return asdict(self)


def resolve_targets(settings: Settings) -> list[dict[str, str]]:
    """Every configured account x Region, as dicts ready for dynamic task mapping."""
    if not settings.accounts:
        raise InputError("config lists no accounts: add accounts[] with id, name, regions (and role_arn)")
    if not settings.scan.target_tag_values:
        raise InputError("config scan.target_tag_values is empty: the scan would target no node")
    return [Target(account.id, account.name, region, account.role_arn).as_dict()
            for account in settings.accounts for region in account.regions]


# --- storage access ---------------------------------------------------------------------------------


LAKE_FILE_IO = "patch_compliance.lake_io.LakeFileIO"


@dataclass(frozen=True)
class StorageAccess:
    """The central identity's credentials, Region and S3/Glue endpoints, resolved, as plain values.

    Credentials are frozen when resolved (each task resolves its own): pyarrow and pyiceberg cannot
    refresh them. No credentials (none found): pyarrow reads anonymously, Glue uses boto3's chain.
    """

    region: str = DEFAULT_REGION
    access_key: str | None = field(default=None, repr=False)
    secret_key: str | None = field(default=None, repr=False)
    session_token: str | None = field(default=None, repr=False)
    s3_endpoint: str | None = None
    glue_endpoint: str | None = None

    def _credentials(self, prefix: str) -> dict[str, str]:
        """pyiceberg's credential properties under ``prefix`` (``s3``, ``glue``); none without keys."""
        if not (self.access_key and self.secret_key):
            return {}
        props = {f"{prefix}.access-key-id": self.access_key, f"{prefix}.secret-access-key": self.secret_key}
        if self.session_token:
            props[f"{prefix}.session-token"] = self.session_token
        return props

    @property
    def s3_max_attempts(self) -> int:
        """pyarrow's S3 retry attempts (its standard strategy, first call included): ``RETRY_POLICY``'s."""
        return int(RETRY_POLICY["total_max_attempts"])

    def iceberg_io_properties(self) -> dict[str, str]:
        """pyiceberg FileIO properties (``s3.*``), naming the lake's FileIO (``lake_io.LakeFileIO``)."""
        props = {"py-io-impl": LAKE_FILE_IO, "s3.region": self.region, **self._credentials("s3")}
        if self.s3_endpoint:
            props["s3.endpoint"] = self.s3_endpoint
        return props

    @classmethod
    def from_iceberg_io_properties(cls, props: Mapping[str, str]) -> StorageAccess:
        """The S3 side of an access back from :meth:`iceberg_io_properties` (what a FileIO is given)."""
        return cls(region=props.get("s3.region") or DEFAULT_REGION, access_key=props.get("s3.access-key-id"),
                   secret_key=props.get("s3.secret-access-key"), session_token=props.get("s3.session-token"),
                   s3_endpoint=props.get("s3.endpoint"))

    def glue_client(self, region: str) -> Any:
        """The Glue client pyiceberg's catalog is given (``RETRY_POLICY``; ``region``: the catalog's).

        Made from one botocore session per process, so Glue's service model is parsed once, not by every
        task's catalog (≈0.25 s each); the credentials are this access's own, the session's are not touched.
        ``s3_client`` is made the same way.
        """
        return _shared_botocore_session().create_client(
            "glue", region_name=region, endpoint_url=self.glue_endpoint, aws_access_key_id=self.access_key,
            aws_secret_access_key=self.secret_key, aws_session_token=self.session_token, config=client_config())

    def s3_client(self, pool: int) -> Any:
        """A botocore S3 client (``RETRY_POLICY``, ``pool`` connections), from the same shared session;
        anonymous without credentials, as pyarrow's filesystem is."""
        from botocore import UNSIGNED
        from botocore.config import Config

        config = client_config().merge(Config(max_pool_connections=pool, connect_timeout=5, read_timeout=30))
        if not (self.access_key and self.secret_key):
            config = config.merge(Config(signature_version=UNSIGNED))
        return _shared_botocore_session().create_client(
            "s3", region_name=self.region, endpoint_url=self.s3_endpoint, aws_access_key_id=self.access_key,
            aws_secret_access_key=self.secret_key, aws_session_token=self.session_token, config=config)


@cache
def _shared_botocore_session() -> Any:
    import botocore.session

    return botocore.session.get_session()


def storage_access(endpoint_url: str | None = None, region: str | None = None) -> StorageAccess:
    """The default boto3 credential chain's storage access (command line, scripts)."""
    return Aws.from_session(endpoint_url=endpoint_url, region=region).storage()


# --- sessions and clients ---------------------------------------------------------------------------


class Aws:
    """The central identity and the way into each account: sessions, clients, storage access.

    Sessions are cached per role (one AssumeRole per account and ``Aws``), clients per service,
    role and Region.
    """

    def __init__(self, region: str, endpoint: str | None = None, connection: AwsConnectionWrapper | None = None,
                 verify: bool | str | None = None) -> None:
        self.region = region
        self.explicit_endpoint = endpoint
        self.connection = connection
        self.verify = verify
        self._sessions: dict[str, boto3.Session] = {}
        self._clients: dict[tuple[str, str, str], Any] = {}

    # -- constructors
    @classmethod
    def from_session(cls, session: boto3.Session | None = None, endpoint_url: str | None = None,
                     region: str | None = None) -> Aws:
        """From a plain boto3 session (default: boto3's credential chain), as the command line runs."""
        import boto3

        session = session or boto3.Session()
        return _SessionAws(session, region or session.region_name or DEFAULT_REGION, endpoint_url)

    @classmethod
    def from_connection(cls, conn_id: str | None, region: str | None = None,
                        endpoint_url: str | None = None) -> Aws:
        """From an Airflow AWS connection, through the amazon provider (as the DAGs run)."""
        from airflow.providers.amazon.aws.hooks.base_aws import AwsBaseHook

        return cls.from_hook(AwsBaseHook(aws_conn_id=conn_id, client_type="sts", region_name=region,
                                         config=client_config()), endpoint_url)

    @classmethod
    def from_hook(cls, hook: AwsBaseHook, endpoint_url: str | None = None) -> Aws:
        """From a provider hook's connection (read, never changed)."""
        return _ConnectionAws(hook, endpoint_url)

    @classmethod
    def from_settings(cls, settings: Settings) -> Aws:
        """The DAGs' identity: the ``aws.connection_id`` connection in the ``aws.region`` Region."""
        return cls.from_connection(settings.aws.connection_id, settings.aws.region)

    # -- what every caller uses
    def endpoint(self, service: str) -> str | None:
        return endpoint_url(service, self.explicit_endpoint, self.connection)

    def session(self, target: Target | Mapping[str, Any] | None = None) -> boto3.Session:
        """The central session, or the target account's (its role assumed, credentials refreshing)."""
        chosen = Target.of(target) if target is not None else None
        key = chosen.role_arn if chosen else ""
        if key not in self._sessions:
            self._sessions[key] = self._assumed(chosen) if chosen and chosen.role_arn else self._central()
        return self._sessions[key]

    def client(self, service: str, target: Target | Mapping[str, Any] | None = None,
               region: str | None = None) -> Any:
        """A botocore client for ``service`` in the target's account and Region (default: central),
        with ``RETRY_POLICY`` and the resolved endpoint."""
        chosen = Target.of(target) if target is not None else None
        region = region or (chosen.region if chosen else self.region)
        key = (service, chosen.role_arn if chosen else "", region)
        if key not in self._clients:
            self._clients[key] = self.session(chosen).client(
                service, region_name=region, endpoint_url=self.endpoint(service), config=client_config(),
                verify=self.verify)
        return self._clients[key]

    def storage(self) -> StorageAccess:
        """The central identity's credentials (frozen now), Region and S3/Glue endpoints."""
        credentials = self.session().get_credentials()
        frozen = credentials.get_frozen_credentials() if credentials is not None else None
        if frozen is not None:
            self._mask(frozen.secret_key, frozen.token)
        return StorageAccess(self.region, frozen.access_key if frozen else None, frozen.secret_key if frozen else None,
                             frozen.token if frozen else None, self.endpoint("s3"), self.endpoint("glue"))

    # -- what the two identities do differently
    def _central(self) -> boto3.Session:
        raise NotImplementedError

    def _assumed(self, target: Target) -> boto3.Session:
        raise NotImplementedError

    def _mask(self, *secrets: str | None) -> None:
        """Keep secrets out of logs (Airflow's masker; nothing to do without Airflow)."""


class _SessionAws(Aws):
    """A plain boto3 session; account roles through botocore's refreshing assume-role credentials."""

    def __init__(self, base: boto3.Session, region: str, endpoint: str | None) -> None:
        super().__init__(region, endpoint)
        self.base = base

    def _central(self) -> boto3.Session:
        return self.base

    def _assumed(self, target: Target) -> boto3.Session:
        import boto3
        import botocore.session
        from botocore.credentials import (
            AssumeRoleCredentialFetcher,
            CredentialProvider,
            CredentialResolver,
            DeferredRefreshableCredentials,
        )
        from botocore.exceptions import NoCredentialsError

        source = self.base.get_credentials()
        if source is None:
            raise NoCredentialsError()
        sts_endpoint, region, config = self.endpoint("sts"), self.region, client_config()

        def sts_client(service: str, **credentials: Any) -> Any:
            return self.base.client(service, region_name=region, endpoint_url=sts_endpoint, config=config,
                                    **credentials)

        fetcher = AssumeRoleCredentialFetcher(
            client_creator=sts_client, source_credentials=source, role_arn=target.role_arn,
            extra_args={"RoleSessionName": target.session_name})

        class AssumedRole(CredentialProvider):
            METHOD = "assume-role"

            def load(self) -> DeferredRefreshableCredentials:
                return DeferredRefreshableCredentials(refresh_using=fetcher.fetch_credentials, method=self.METHOD)

        core = botocore.session.get_session()
        core.register_component("credential_provider", CredentialResolver([AssumedRole()]))
        return boto3.Session(botocore_session=core, region_name=target.region)


class _ConnectionAws(Aws):
    """An Airflow connection through the amazon provider; account roles through its session factory."""

    def __init__(self, hook: AwsBaseHook, endpoint: str | None) -> None:
        connection = hook.conn_config
        super().__init__(hook.region_name or DEFAULT_REGION, endpoint, connection, hook.verify)
        self.hook = hook

    def _central(self) -> boto3.Session:
        return self.hook.get_session(region_name=self.region)

    def account_connection(self, target: Target) -> AwsConnectionWrapper:
        """A new wrapper for ``target``: the connection's own metadata, its extra naming the account's
        role (and STS at the resolved endpoint); the connection the hook holds stays as it is."""
        from airflow.providers.amazon.aws.utils.connection_wrapper import AwsConnectionWrapper

        central = self.connection
        extra = dict(central.extra_config) if central else {}
        service_config = {name: dict(options) for name, options in (extra.get("service_config") or {}).items()}
        sts_endpoint = self.endpoint("sts")
        if sts_endpoint:  # the provider never sends AssumeRole to the connection's global endpoint_url
            service_config["sts"] = {**service_config.get("sts", {}), "endpoint_url": sts_endpoint}
        extra |= {"role_arn": target.role_arn, "assume_role_method": "assume_role",
                  "assume_role_kwargs": {"RoleSessionName": target.session_name},
                  "service_config": service_config}
        return AwsConnectionWrapper.from_connection_metadata(
            conn_id=central.conn_id if central and isinstance(central.conn_id, str) else None,
            login=central.login if central else None,
            password=central.password if central else None, extra=extra)

    def _assumed(self, target: Target) -> boto3.Session:
        from airflow.providers.amazon.aws.hooks.base_aws import SessionFactory

        return SessionFactory(conn=self.account_connection(target), region_name=target.region,
                              config=client_config()).create_session()

    def _mask(self, *secrets: str | None) -> None:
        from airflow.sdk.log import mask_secret

        for secret in secrets:
            if secret:
                mask_secret(secret)

