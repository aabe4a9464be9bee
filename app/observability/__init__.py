"""What operators watch: request ids and the context they carry into Elasticsearch
(`context`), Prometheus metrics (`metrics`), ECS or console logs (`logs`), the per-request hooks
that feed both (`requests`), and the directory worker processes share (`shared_dir`)."""
