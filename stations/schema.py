"""The registry's tables, declared once (SQLAlchemy Core + GeoAlchemy2).

Everything else that needs the columns derives from here: the interchange fields of
files and the API (:mod:`stations.records`, from each column's ``info``), the importer's
staging table, the record select lists, the editing API's JSON types, the OpenAPI station
schemas and the export columns. Migrations create the tables; ``tests/test_schema.py``
runs Alembic's autogenerate comparison and fails when they and this module differ.

A column of the interchange format carries ``info``: ``zh`` (its Chinese header),
``required`` (a file or a new station must give it), ``vocabulary`` (codes from
data/vocabulary.toml). The point ``geom`` is the interchange's ``lon`` and ``lat``.
"""

from __future__ import annotations

from geoalchemy2 import Geometry
from sqlalchemy import (
    ARRAY,
    JSON,
    BigInteger,
    Boolean,
    CheckConstraint,
    Column,
    Date,
    Double,
    ForeignKey,
    Identity,
    Index,
    Integer,
    LargeBinary,
    MetaData,
    Numeric,
    Table,
    Text,
    text,
)
from sqlalchemy.dialects.postgresql import TIMESTAMP
from sqlalchemy.dialects.postgresql.base import ischema_names
from sqlalchemy.types import UserDefinedType


class Xid8(UserDefinedType):
    """PostgreSQL's 64-bit transaction id (``pg_current_xact_id()``)."""

    cache_ok = True

    def get_col_spec(self, **kw: object) -> str:
        """The type's name in DDL."""
        return "xid8"


ischema_names.setdefault("xid8", Xid8)  # so reflection (the comparison test) knows it

TIMESTAMPTZ = TIMESTAMP(timezone=True)
NOW = text("now()")

metadata = MetaData()


def _identity() -> Column:
    return Column("id", BigInteger, Identity(always=True), primary_key=True)


def _trigram(name: str, column: Column) -> Index:
    """A pg_trgm index: finding by a part of a name (migrations 0006, 0007)."""
    return Index(name, column, postgresql_using="gin", postgresql_ops={column.name: "gin_trgm_ops"})


districts = Table(
    "districts",
    metadata,
    Column("code", Text, CheckConstraint("code ~ '^[0-9]{6}$'"), primary_key=True),
    Column("name", Text, nullable=False),
    Column("parent_code", Text, ForeignKey("districts.code")),
    Column(
        "level", Text, CheckConstraint("level IN ('province', 'city', 'county')"), nullable=False
    ),
    Column("geom", Geometry("MULTIPOLYGON", srid=4326, spatial_index=False), nullable=False),
)
Index("districts_geom_idx", districts.c.geom, postgresql_using="gist")
Index("districts_name_idx", districts.c.name)
_trigram("districts_name_trgm_idx", districts.c.name)

stations = Table(
    "stations",
    metadata,
    _identity(),
    Column(
        "code",
        Text,
        CheckConstraint("code <> ''"),
        nullable=False,
        unique=True,
        info={"zh": "编码", "required": True},
    ),
    Column(
        "name",
        Text,
        CheckConstraint("name <> ''"),
        nullable=False,
        info={"zh": "名称", "required": True},
    ),
    Column("address", Text, info={"zh": "地址"}),
    # found from the point when a file leaves them out
    Column(
        "district_code",
        Text,
        ForeignKey("districts.code"),
        nullable=False,
        info={"zh": "行政区划代码"},
    ),
    Column("district_name", Text, nullable=False, info={"zh": "行政区划"}),
    Column(
        "geom",
        Geometry("POINT", srid=4326, spatial_index=False),
        nullable=False,
        info={"lon": "经度", "lat": "纬度", "required": True},
    ),
    Column("opening_hours", Text, info={"zh": "开放时间"}),
    Column(
        "amenities",
        ARRAY(Text),
        nullable=False,
        server_default=text("'{}'::text[]"),
        info={"zh": "服务设施", "vocabulary": "amenities"},
    ),
    Column(
        "floor_area_m2",
        Numeric(9, 1),
        CheckConstraint("floor_area_m2 > 0"),
        info={"zh": "面积(平方米)"},
    ),
    Column(
        "host_type",
        Text,
        nullable=False,
        info={"zh": "依托类型", "vocabulary": "host_types", "required": True},
    ),
    Column(
        "built_by",
        Text,
        nullable=False,
        info={"zh": "建设主体", "vocabulary": "built_by", "required": True},
    ),
    Column(
        "level",
        Text,
        nullable=False,
        info={"zh": "级别", "vocabulary": "levels", "required": True},
    ),
    Column("opened_on", Date, info={"zh": "启用日期"}),
    Column(
        "status",
        Text,
        nullable=False,
        server_default=text("'active'::text"),
        info={"zh": "状态", "vocabulary": "statuses"},
    ),
    Column("contact", Text, info={"zh": "联系方式"}),
    Column("has_sign", Boolean, info={"zh": "统一标识"}),
    Column("has_rules", Boolean, info={"zh": "管理制度"}),
    Column("has_staff", Boolean, info={"zh": "专人管理"}),
    # kept by triggers (migration 0001): every real change bumps version and updated_at
    Column("version", Integer, nullable=False, server_default=text("1")),
    Column("created_at", TIMESTAMPTZ, nullable=False, server_default=NOW),
    Column("updated_at", TIMESTAMPTZ, nullable=False, server_default=NOW),
)
Index("stations_geom_idx", stations.c.geom, postgresql_using="gist")
Index("stations_district_idx", stations.c.district_code)
_trigram("stations_name_trgm_idx", stations.c.name)
_trigram("stations_address_trgm_idx", stations.c.address)
_trigram("stations_district_name_trgm_idx", stations.c.district_name)
# Migration 0002 also builds stations_geom_amenities_idx, a GiST index over
# (ST_Force2D(geom), amenity_keys(amenities) gist__intbig_ops (siglen = 8)): an expression
# with an operator-class parameter, which autogenerate cannot compare; see UNCOMPARED.
UNCOMPARED_INDEXES = frozenset({"stations_geom_amenities_idx"})
NOT_OURS = frozenset({"spatial_ref_sys", "alembic_version"})  # PostGIS's and Alembic's

station_history = Table(
    "station_history",
    metadata,
    _identity(),
    Column("station_id", BigInteger, nullable=False),
    Column("version", Integer, nullable=False),
    Column(
        "action",
        Text,
        CheckConstraint("action IN ('create', 'update', 'delete')"),
        nullable=False,
    ),
    Column("changed_at", TIMESTAMPTZ, nullable=False, server_default=NOW),
    Column("changed_by", Text, nullable=False),
    # when the change took effect, if it was recorded later (migration 0009); NULL: as recorded
    Column("effective_at", TIMESTAMPTZ),
    # the record as people see it (interchange fields and id), written by the triggers
    Column("before", JSON),
    Column("after", JSON),
)
Index("station_history_station_idx", station_history.c.station_id, station_history.c.id)

demand_points = Table(
    "demand_points",
    metadata,
    _identity(),
    Column("kind", Text, nullable=False),
    Column("weight", Double, CheckConstraint("weight > 0"), nullable=False),
    Column("district_code", Text, ForeignKey("districts.code")),
    Column("geom", Geometry("POINT", srid=4326, spatial_index=False), nullable=False),
)
Index("demand_points_geom_idx", demand_points.c.geom, postgresql_using="gist")

api_tokens = Table(
    "api_tokens",
    metadata,
    _identity(),
    Column("owner", Text, CheckConstraint("length(owner) BETWEEN 1 AND 200"), nullable=False),
    Column(
        "roles",
        ARRAY(Text),
        CheckConstraint(
            "cardinality(roles) >= 1 AND roles <@ ARRAY['planner', 'union', 'editor']::text[]"
        ),
        nullable=False,
    ),
    Column(
        "token_sha256",
        LargeBinary,
        CheckConstraint("length(token_sha256) = 32"),
        nullable=False,
        unique=True,
    ),
    Column("created_at", TIMESTAMPTZ, nullable=False, server_default=NOW),
    Column("revoked_at", TIMESTAMPTZ),
)

# the registry's generation, raised at each commit that changed stations (migration 0004)
registry_generation = Table(
    "registry_generation",
    metadata,
    Column(
        "only_row",
        Boolean,
        CheckConstraint("only_row"),
        primary_key=True,
        server_default=text("true"),
    ),
    Column("generation", BigInteger, nullable=False),
)
registry_changes = Table(
    "registry_changes",
    metadata,
    Column("txid", Xid8, primary_key=True, server_default=text("pg_current_xact_id()")),
    Column("station_ids", ARRAY(BigInteger), nullable=False, server_default=text("'{}'::bigint[]")),
)
registry_log = Table(
    "registry_log",
    metadata,
    Column("generation", BigInteger, nullable=False),
    Column("station_id", BigInteger, nullable=False),
)
Index("registry_log_generation_idx", registry_log.c.generation)


# frozen subsidy reports: what was paid, kept byte for byte; append-only (migration 0010)
_SHA256_HEX = "~ '^[0-9a-f]{64}$'"
subsidy_reports = Table(
    "subsidy_reports",
    metadata,
    _identity(),
    Column("programme", Text, nullable=False),
    Column("programme_name", Text, nullable=False),
    Column(
        "programme_sha256",
        Text,
        CheckConstraint(f"programme_sha256 {_SHA256_HEX}"),
        nullable=False,
    ),
    Column("programme_toml", LargeBinary, nullable=False),  # the rules as they were read
    Column("period_start", Date, nullable=False),
    Column("period_end", Date, nullable=False),
    Column("format", Text, CheckConstraint("format IN ('json', 'csv', 'xlsx')"), nullable=False),
    Column("lang", Text, CheckConstraint("lang IN ('zh', 'en')"), nullable=False),
    Column("content", LargeBinary, nullable=False),
    Column("sha256", Text, CheckConstraint(f"sha256 {_SHA256_HEX}"), nullable=False),
    Column("snapshot_at", TIMESTAMPTZ),
    # the newest history entry the report could see: later ones explain a re-run's changes
    Column("history_through", BigInteger, nullable=False),
    Column("verdicts", JSON, nullable=False),  # [[id, code, eligible, amount_cny], ...]
    Column("eligible", Integer, nullable=False),
    Column("amount_cny", Double, nullable=False),
    Column("frozen_by", Text, nullable=False),
    Column("frozen_at", TIMESTAMPTZ, nullable=False, server_default=NOW),
    CheckConstraint("period_end >= period_start", name="subsidy_reports_period_check"),
)


# planners' saved plans: a save under a name already used is its next version; no row
# is ever changed, so a plan's history is its rows (migration 0011)
PLAN_SOURCES = ("suggest", "fewest", "map", "file")
plans = Table(
    "plans",
    metadata,
    _identity(),
    Column("owner", Text, nullable=False),  # the token owner who saved it
    Column("name", Text, CheckConstraint("length(name) BETWEEN 1 AND 100"), nullable=False),
    Column("district", Text, nullable=False),
    Column("radius_m", Double, nullable=False),
    Column(
        "source",
        Text,
        CheckConstraint(f"source IN ({', '.join(repr(v) for v in PLAN_SOURCES)})"),
        nullable=False,
    ),
    # [[lon, lat], ...]: plain JSON, not PostGIS, so that restoring a backup made before
    # 0011 (pg_restore --clean drops and recreates the postgis extension) keeps the plans
    Column("sites", JSON, nullable=False),
    Column("saved_at", TIMESTAMPTZ, nullable=False, server_default=NOW),
)


def compared(obj: object, name: str | None, kind: str, reflected: bool, compare_to: object) -> bool:
    """Alembic's ``include_object``: what autogenerate compares (all but the above)."""
    if kind == "table" and name in NOT_OURS:
        return False
    return not (kind == "index" and name in UNCOMPARED_INDEXES)
