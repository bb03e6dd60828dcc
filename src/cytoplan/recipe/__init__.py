"""Recipes: a YAML file → per-plate and batch-level steps → outputs with manifests.

Reads profiling-recipe's multi-document YAML as it is, and cytoplan's own
``version: 1`` schema. See ``docs/recipes.md``.

Examples
--------
>>> from cytoplan.recipe import load_recipe, plan, run_recipe, explain_recipe
>>> callable(run_recipe)
True
"""

from __future__ import annotations

from cytoplan.recipe.load import load_recipe
from cytoplan.recipe.model import PlateInput, Recipe, Step
from cytoplan.recipe.run import RunReport, TaskResult, explain_recipe, plan, run_recipe

__all__ = [
    "PlateInput",
    "Recipe",
    "RunReport",
    "Step",
    "TaskResult",
    "explain_recipe",
    "load_recipe",
    "plan",
    "run_recipe",
]
