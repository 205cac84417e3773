"""Invoke entry point: assembles mirante's namespaces. Logic lives in src/mirante."""

from invoke.collection import Collection

from mirante.tasks import backup, db, features, gates, health, images, remote, stack, validate

ns = Collection()
ns.add_collection(stack.namespace)
ns.add_collection(images.namespace)
ns.add_collection(gates.namespace)
ns.add_collection(backup.namespace)
ns.add_collection(db.namespace)
ns.add_collection(remote.k8s_namespace)
ns.add_collection(remote.staging_namespace)
ns.add_collection(remote.deploy_namespace)
ns.add_task(remote.provision)
ns.add_task(db.seed)
ns.add_task(health.health)
ns.add_collection(features.namespace)
ns.add_collection(validate.namespace)
