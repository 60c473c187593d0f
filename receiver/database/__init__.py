"""The database in one home: connection pools, migrations, roles and grants, provisioning, schema docs."""
