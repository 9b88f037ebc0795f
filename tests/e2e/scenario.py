"""The lifecycle scenario now lives in localrun/scenario.py; import it from there.

This module only re-exports it for test files written against the old path on branches
still in flight; delete it once they have merged.
"""

from localrun.scenario import APPROVERS as APPROVERS
from localrun.scenario import BUILDER as BUILDER
from localrun.scenario import PATCH_BUILD_AT as PATCH_BUILD_AT
from localrun.scenario import CrashingStore as CrashingStore
from localrun.scenario import InjectedCrash as InjectedCrash
from localrun.scenario import Marks as Marks
from localrun.scenario import approvers_of as approvers_of
from localrun.scenario import build as build
from localrun.scenario import full_lifecycle as full_lifecycle
from localrun.scenario import mark as mark
from localrun.scenario import promote as promote
from localrun.scenario import rollback as rollback
from localrun.scenario import to_production as to_production
