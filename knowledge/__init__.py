"""The knowledge base of agencies, services and the concerns they handle."""

from .bundle import Bundle, read_bundle
from .categories import CATEGORIES, CATEGORIES_EN, CRISIS_TYPES, Category, CrisisType
from .db import open_database
from .errors import (
    KnowledgeError,
    LoadError,
    LoadProblem,
    NotFound,
    OrganizationRetired,
    ja_message,
)
from .files import (
    dump_yaml,
    export_path,
    export_yaml,
    load_path,
    read_files,
    read_yaml,
    sample_path,
)
from .models import ExampleConcern, Organization, OrganizationFile, Schedule, Service
from .store import ApplyReport, Concern, KnowledgeStore

__all__ = [
    "CATEGORIES",
    "CATEGORIES_EN",
    "CRISIS_TYPES",
    "ApplyReport",
    "Bundle",
    "Category",
    "Concern",
    "CrisisType",
    "ExampleConcern",
    "KnowledgeError",
    "KnowledgeStore",
    "LoadError",
    "LoadProblem",
    "NotFound",
    "Organization",
    "OrganizationFile",
    "OrganizationRetired",
    "Schedule",
    "Service",
    "dump_yaml",
    "export_path",
    "export_yaml",
    "ja_message",
    "load_path",
    "open_database",
    "read_bundle",
    "read_files",
    "read_yaml",
    "sample_path",
]
