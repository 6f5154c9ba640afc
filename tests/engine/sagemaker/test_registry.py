"""The local Model Registry: versioned packages with approval status that a later run still finds."""
import pytest
from botocore.exceptions import ClientError
from sagemaker_checks import IMAGE, ROLE, deploy_model

from engine.aws import LocalAWS


def test_packages_are_versioned_approved_and_kept_across_sessions(aws, project):
    sagemaker = aws.client("sagemaker")
    deploy_model(aws, "m-reg", scale=2)          # uploads models/m-reg/model.tar.gz
    sagemaker.create_model_package_group(ModelPackageGroupName="review-classifier")
    spec = {"Containers": [{"Image": IMAGE, "ModelDataUrl": "s3://data/models/m-reg/model.tar.gz"}],
            "SupportedContentTypes": ["application/x-image"], "SupportedResponseMIMETypes": ["application/json"]}
    first = sagemaker.create_model_package(ModelPackageGroupName="review-classifier", InferenceSpecification=spec,
                                           ModelApprovalStatus="Approved",
                                           CustomerMetadataProperties={"macro_f1": "0.91"})["ModelPackageArn"]
    second = sagemaker.create_model_package(ModelPackageGroupName="review-classifier",
                                            InferenceSpecification=spec)["ModelPackageArn"]
    assert first.endswith("model-package/review-classifier/1") and second.endswith("/2")
    sagemaker.update_model_package(ModelPackageArn=second, ModelApprovalStatus="Rejected",
                                   ApprovalDescription="macro-F1 0.80 < production 0.91 + 0.01")
    aws.save()
    aws.__exit__(None, None, None)
    try:
        with LocalAWS(project / ".stepsmith") as later:
            registry = later.client("sagemaker")
            approved = registry.list_model_packages(ModelPackageGroupName="review-classifier",
                                                    ModelApprovalStatus="Approved", SortBy="CreationTime",
                                                    SortOrder="Descending")["ModelPackageSummaryList"]
            assert [p["ModelPackageArn"] for p in approved] == [first]
            rejected = registry.describe_model_package(ModelPackageName=second)
            assert rejected["ModelApprovalStatus"] == "Rejected"
            assert rejected["ApprovalDescription"].startswith("macro-F1 0.80")
            assert registry.describe_model_package(ModelPackageName=first)["CustomerMetadataProperties"] == \
                {"macro_f1": "0.91"}
            # a model made from a package takes its image and model data
            registry.create_model(ModelName="from-package", ExecutionRoleArn=ROLE,
                                  PrimaryContainer={"ModelPackageName": first})
            assert registry.describe_model(ModelName="from-package")["PrimaryContainer"]["ModelDataUrl"] == \
                "s3://data/models/m-reg/model.tar.gz"
            with pytest.raises(ClientError) as error:
                registry.create_model_package(ModelPackageGroupName="no-group", InferenceSpecification=spec)
            assert error.value.response["Error"]["Code"] == "ValidationException"
    finally:
        aws.__enter__()
