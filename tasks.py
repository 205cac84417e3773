"""Invoke entry point: assembles mirante's namespaces. Logic lives in src/mirante."""

from invoke.collection import Collection

from mirante.tasks import (
    backup,
    db,
    deploy,
    features,
    gates,
    health,
    images,
    infra,
    k8s,
    load,
    provision,
    security,
    service,
    stack,
    staging,
    validate,
)

ns = Collection()
ns.add_collection(stack.namespace)
ns.add_collection(images.namespace)
ns.add_collection(gates.namespace)
ns.add_collection(backup.namespace)
ns.add_collection(db.namespace)
ns.add_collection(k8s.namespace)
ns.add_collection(staging.namespace)
ns.add_collection(deploy.namespace)
ns.add_collection(infra.namespace)
ns.add_task(provision.provision)
ns.add_task(db.seed)
ns.add_task(health.health)
ns.add_task(security.security)
ns.add_task(load.load)
ns.add_collection(features.namespace)
ns.add_collection(validate.namespace)
ns.add_collection(service.namespace)
