"""The page: views drawn from the model's tables, the dashboard and its controls, the served page, the
offline file and the PNG and report exports. Reads the model's tables, computes no statistic."""
