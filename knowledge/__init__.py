"""The knowledge base of agencies, services and the concerns they handle."""

from .categories import CATEGORIES, CATEGORIES_EN, CRISIS_TYPES, Category, CrisisType
from .db import open_database
from .errors import KnowledgeError, LoadError, LoadProblem, NotFound
from .files import export_path, load_path, read_files, sample_path
from .models import ExampleConcern, Organization, OrganizationFile, Schedule, Service
from .store import ApplyReport, Concern, KnowledgeStore

__all__ = [
    "CATEGORIES",
    "CATEGORIES_EN",
    "CRISIS_TYPES",
    "ApplyReport",
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
    "Schedule",
    "Service",
    "export_path",
    "load_path",
    "open_database",
    "read_files",
    "sample_path",
]
