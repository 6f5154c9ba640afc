"""Local SageMaker Model Registry: model package groups and versioned model packages, with approval status.

moto keeps model packages in memory only, so a registry would forget every candidate when `stepsmith run`
ends; here they are records under `.stepsmith/sagemaker/` like endpoints, and a later run finds them.

    CreateModelPackageGroup / DescribeModelPackageGroup / ListModelPackageGroups
    CreateModelPackage (versioned: 1, 2, … per group) / DescribeModelPackage / ListModelPackages
    UpdateModelPackage (ModelApprovalStatus, ApprovalDescription, CustomerMetadataProperties)

CreateModel accepts a container that names a `ModelPackageName` (its image and model data come from the
package), as the service does.
"""
from __future__ import annotations

import re
from typing import TYPE_CHECKING, Any

from engine.aws.providers import ServiceError, register
from engine.aws.providers.sagemaker_state import Records, check_name, now, timestamp

if TYPE_CHECKING:
    from engine.aws import LocalAWS

APPROVALS = ("Approved", "Rejected", "PendingManualApproval")
_PACKAGE_ARN = re.compile(r"^arn:aws[a-z-]*:sagemaker:[a-z0-9-]+:\d{12}:model-package/(?P<group>[^/]+)/(?P<version>\d+)$")


def _groups(aws: LocalAWS) -> Records:
    return Records(aws, "model-package-groups")


def _packages(aws: LocalAWS) -> Records:
    return Records(aws, "model-packages")


def create_model_package_group(params: dict, aws: LocalAWS) -> dict:
    name = check_name(params.get("ModelPackageGroupName"), "modelPackageGroupName")
    groups = _groups(aws)
    arn = groups.arn("model-package-group", name)
    with groups.locked():
        if groups.get(name) is not None:
            raise ServiceError("ValidationException", f"Model Package Group already exists: {arn}")
        groups.put({"ModelPackageGroupName": name, "ModelPackageGroupArn": arn,
                    "ModelPackageGroupDescription": params.get("ModelPackageGroupDescription", ""),
                    "CreationTime": now(), "ModelPackageGroupStatus": "Completed", "_versions": 0}, name)
    return {"ModelPackageGroupArn": arn}


def _group(aws: LocalAWS, name: Any) -> dict:
    group = _groups(aws).get(str(name or ""))
    if group is None:
        raise ServiceError("ValidationException", f"Model Package Group does not exist: {name}")
    return group


def describe_model_package_group(params: dict, aws: LocalAWS) -> dict:
    group = _group(aws, params.get("ModelPackageGroupName"))
    return {**{k: v for k, v in group.items() if not k.startswith("_")},
            "CreationTime": timestamp(group["CreationTime"])}


def list_model_package_groups(params: dict, aws: LocalAWS) -> dict:
    groups = _groups(aws)
    contains = str(params.get("NameContains", "")).lower()
    found = [groups.get(name) for name in groups.names()]
    summaries = [{"ModelPackageGroupName": g["ModelPackageGroupName"], "ModelPackageGroupArn": g["ModelPackageGroupArn"],
                  "ModelPackageGroupDescription": g["ModelPackageGroupDescription"],
                  "CreationTime": timestamp(g["CreationTime"]), "ModelPackageGroupStatus": "Completed"}
                 for g in found if g and contains in g["ModelPackageGroupName"].lower()]
    return {"ModelPackageGroupSummaryList": sorted(summaries, key=lambda s: s["CreationTime"])}


def create_model_package(params: dict, aws: LocalAWS) -> dict:
    """CreateModelPackage: a new version in its group (PendingManualApproval unless told otherwise)."""
    group_name = params.get("ModelPackageGroupName")
    if not group_name:
        raise ServiceError("ValidationException", "Only versioned model packages (with ModelPackageGroupName) "
                           "are kept by the local registry")
    approval = params.get("ModelApprovalStatus", "PendingManualApproval")
    if approval not in APPROVALS:
        raise ServiceError("ValidationException", f"ModelApprovalStatus must be one of {', '.join(APPROVALS)}")
    spec = params.get("InferenceSpecification") or {}
    for container in spec.get("Containers") or []:
        if not container.get("Image"):
            raise ServiceError("ValidationException", "InferenceSpecification.Containers[].Image is required")
    groups, packages = _groups(aws), _packages(aws)
    with groups.locked():
        group = _group(aws, group_name)
        version = int(group["_versions"]) + 1
        group["_versions"] = version
        groups.put(group, group["ModelPackageGroupName"])
    name = group["ModelPackageGroupName"]
    arn = f"arn:aws:sagemaker:{aws.region}:{aws.account}:model-package/{name.lower()}/{version}"
    moment = now()
    record = {"ModelPackageGroupName": name, "ModelPackageVersion": version, "ModelPackageArn": arn,
              "ModelPackageName": name, "ModelPackageStatus": "Completed", "ModelApprovalStatus": approval,
              "CreationTime": moment, "LastModifiedTime": moment,
              "ModelPackageStatusDetails": {"ValidationStatuses": [], "ImageScanStatuses": []}}
    for key in ("ModelPackageDescription", "InferenceSpecification", "ModelMetrics", "CustomerMetadataProperties",
                "MetadataProperties", "Domain", "Task", "SamplePayloadUrl", "ApprovalDescription"):
        if key in params:
            record[key] = params[key]
    packages.put(record, f"{name}-{version}")
    return {"ModelPackageArn": arn}


def package_record(aws: LocalAWS, name_or_arn: Any) -> dict:
    """A model package by its ARN (versioned packages are named by ARN), or ValidationException."""
    match = _PACKAGE_ARN.match(str(name_or_arn or ""))
    record = _packages(aws).get(f"{match['group']}-{match['version']}") if match else None
    if record is None:
        raise ServiceError("ValidationException", f"ModelPackage {name_or_arn} does not exist.")
    return record


def _described(record: dict) -> dict:
    answer = dict(record)
    answer["CreationTime"] = timestamp(record["CreationTime"])
    answer["LastModifiedTime"] = timestamp(record["LastModifiedTime"])
    return answer


def describe_model_package(params: dict, aws: LocalAWS) -> dict:
    return _described(package_record(aws, params.get("ModelPackageName")))


def list_model_packages(params: dict, aws: LocalAWS) -> dict:
    """ListModelPackages: filter by group and approval; sort by CreationTime (default) or Name."""
    packages = _packages(aws)
    group = str(params.get("ModelPackageGroupName") or "").lower()
    approval = params.get("ModelApprovalStatus")
    found = []
    for stem in packages.names():
        record = packages.get(stem)
        if record is None or (group and record["ModelPackageGroupName"].lower() != group):
            continue
        if approval and record["ModelApprovalStatus"] != approval:
            continue
        found.append(record)
    key = (lambda r: (r["ModelPackageGroupName"], r["ModelPackageVersion"])) \
        if params.get("SortBy") == "Name" else (lambda r: (r["CreationTime"], r["ModelPackageVersion"]))
    found.sort(key=key, reverse=params.get("SortOrder", "Ascending") == "Descending")
    limit = int(params.get("MaxResults", 100))
    return {"ModelPackageSummaryList": [{
        "ModelPackageName": r["ModelPackageName"], "ModelPackageGroupName": r["ModelPackageGroupName"],
        "ModelPackageVersion": r["ModelPackageVersion"], "ModelPackageArn": r["ModelPackageArn"],
        **({"ModelPackageDescription": r["ModelPackageDescription"]} if "ModelPackageDescription" in r else {}),
        "CreationTime": timestamp(r["CreationTime"]), "ModelPackageStatus": r["ModelPackageStatus"],
        "ModelApprovalStatus": r["ModelApprovalStatus"]} for r in found[:limit]]}


def update_model_package(params: dict, aws: LocalAWS) -> dict:
    """UpdateModelPackage: approval status, its description, customer metadata."""
    record = package_record(aws, params.get("ModelPackageArn"))
    approval = params.get("ModelApprovalStatus")
    if approval is not None and approval not in APPROVALS:
        raise ServiceError("ValidationException", f"ModelApprovalStatus must be one of {', '.join(APPROVALS)}")

    def change(stored: dict) -> None:
        if approval is not None:
            stored["ModelApprovalStatus"] = approval
        if "ApprovalDescription" in params:
            stored["ApprovalDescription"] = params["ApprovalDescription"]
        if params.get("CustomerMetadataProperties"):
            stored.setdefault("CustomerMetadataProperties", {}).update(params["CustomerMetadataProperties"])
        for key in params.get("CustomerMetadataPropertiesToRemove") or []:
            stored.get("CustomerMetadataProperties", {}).pop(key, None)
        stored["LastModifiedTime"] = now()
    _packages(aws).update(f"{record['ModelPackageGroupName']}-{record['ModelPackageVersion']}", change)
    return {"ModelPackageArn": record["ModelPackageArn"]}


register("sagemaker", "CreateModelPackageGroup", create_model_package_group)
register("sagemaker", "DescribeModelPackageGroup", describe_model_package_group)
register("sagemaker", "ListModelPackageGroups", list_model_package_groups)
register("sagemaker", "CreateModelPackage", create_model_package)
register("sagemaker", "DescribeModelPackage", describe_model_package)
register("sagemaker", "ListModelPackages", list_model_packages)
register("sagemaker", "UpdateModelPackage", update_model_package)
