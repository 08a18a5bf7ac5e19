"""OpenAPI path of the hyperparameter analysis (``experiments.analysis_api``).
Registered by ``experiments.apps``."""

from experiments.api.openapi import NAME, errors, json_content, query

_INTERVAL = {
    "type": ["object", "null"],
    "description": "A correlation with its 95% confidence interval over n runs.",
    "properties": {
        "r": {"type": "number"},
        "low": {"type": "number"},
        "high": {"type": "number"},
        "n": {"type": "integer"},
    },
}
_PARAM = {
    "type": "object",
    "properties": {
        "key": {"type": "string", "description": "A flattened config key (optim.lr)."},
        "kind": {"type": "string", "enum": ["numeric", "categorical"]},
        "log": {
            "type": "boolean",
            "description": "Positive, spanning two decades, spread evenly as logarithms.",
        },
        "integer": {"type": "boolean"},
        "present": {"type": "integer", "description": "Analysed runs that set it."},
        "distinct": {"type": "integer"},
        "low": {"type": ["number", "null"]},
        "high": {"type": ["number", "null"]},
        "choices": {"type": "array", "items": {"type": "string"}},
        "note": {"type": "string", "description": "Why it is not ranked (empty when it is)."},
        "importance": {"type": ["number", "null"], "description": "Share of the importance (sums to 1)."},
        "spearman": _INTERVAL,
        "pearson": _INTERVAL,
    },
}
_ANALYSIS = {
    "type": "object",
    "properties": {
        "project": {"type": "string"},
        "q": {"type": "string"},
        "metric": {"type": "string"},
        "agg": {"type": "string", "enum": ["last", "min", "max", "best"]},
        "direction": {"type": "string", "enum": ["min", "max"]},
        "column": {"type": "string"},
        "metrics": {"type": "array", "items": {"type": "string"}},
        "runs": {
            "type": "object",
            "properties": {
                "matching": {"type": "integer"},
                "read": {"type": "integer"},
                "truncated": {"type": "boolean"},
                "analysed": {"type": "integer"},
                "without_metric": {"type": "integer"},
            },
        },
        "importance": {
            "type": "object",
            "properties": {
                "evaluator": {"type": "string", "enum": ["mdi", "fanova"]},
                "runs": {"type": "integer"},
                "sampled": {"type": "boolean"},
                "note": {"type": "string"},
            },
        },
        "params": {"type": "array", "items": _PARAM},
        "rows": {
            "type": "object",
            "description": "Column by column: run ids, names, the metric, and each parameter's values.",
            "properties": {
                "id": {"type": "array", "items": {"type": "integer"}},
                "name": {"type": "array", "items": {"type": "string"}},
                "metric": {"type": "array", "items": {"type": "number"}},
                "values": {"type": "object"},
            },
        },
    },
}

PATHS = {
    "/projects/{name}/analysis": {
        "get": {
            "summary": "Hyperparameter analysis: which config keys mattered for a metric",
            "description": (
                "Over the project's runs matching `q` (the newest 20,000 at most): each "
                "config key's importance (Optuna's evaluators), its Spearman and Pearson "
                "correlation with the metric with 95% intervals, and the rows for plots."
            ),
            "parameters": [
                NAME,
                query(
                    "q",
                    {"type": "string"},
                    description="The filter language: config.lr > 1e-3 and tag = sweep:3",
                ),
                query(
                    "metric", {"type": "string"}, description="A metric key (default: a sweep's objective)."
                ),
                query("agg", {"type": "string", "enum": ["last", "min", "max", "best"], "default": "best"}),
                query(
                    "importance",
                    {"type": "string", "enum": ["mdi", "fanova"], "default": "mdi"},
                    description="mdi: a random forest's mean decrease in impurity; fanova: functional ANOVA.",
                ),
            ],
            "responses": {
                "200": {"description": "The analysis", **json_content(_ANALYSIS)},
                **errors(400, 401, 404, 405),
            },
        }
    }
}
