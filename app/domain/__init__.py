"""The rules of the Connector Protocol, as pure code: no Elasticsearch, no Flask.

- `job_states`: sync-job statuses, types and trigger methods, and the transition table;
- `job_changes`: what each worker call writes into a stored job, or why it is refused;
- `connector_states`: connector statuses and their transitions;
- `partial_update`: a partial update's result, as Elasticsearch merges it;
- `clock`: instants as the reference writes and parses them;
- `cron`: the reference's Quartz cron expressions, checked.
"""
