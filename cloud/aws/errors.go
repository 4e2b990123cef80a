package awscloud

import (
	"context"
	"errors"
	"strings"

	"github.com/aws/aws-sdk-go-v2/aws/retry"
	awshttp "github.com/aws/aws-sdk-go-v2/aws/transport/http"
	"github.com/aws/smithy-go"

	"github.com/marmot-project/marmot/cloud"
)

// classify turns the SDK's final error for op (after its retries) into a *cloud.Error whose Kind
// says what Marmot should do about it, keeping the AWS code and message. An error caused by the end
// of the caller's ctx has no Kind and matches ctx.Err(); a timeout of the HTTP client's own, with ctx
// still live, is the cloud being unavailable.
func classify(ctx context.Context, op string, err error) error {
	if err == nil {
		return nil
	}
	e := &cloud.Error{Op: op, Err: err}
	var attempts *retry.MaxAttemptsError
	if errors.As(err, &attempts) {
		e.Attempts = attempts.Attempt
	}
	if cause := ctx.Err(); cause != nil && errors.Is(err, cause) {
		return e
	}
	status := 0
	var resp *awshttp.ResponseError
	if errors.As(err, &resp) {
		status = resp.HTTPStatusCode()
	}
	var api smithy.APIError
	if errors.As(err, &api) {
		e.Code, e.Message = api.ErrorCode(), api.ErrorMessage()
		e.Kind = kindOf(e.Code, e.Message, status)
		return e
	}
	// No answer at all (connection refused, reset, timeout) or a 5xx without a readable body.
	if status == 0 || status >= 500 {
		e.Kind = cloud.ErrUnavailable
	}
	return e
}

// kindOf maps an AWS error code to a cloud error kind (wire-facts.md §5).
func kindOf(code, message string, status int) error {
	switch {
	case isThrottle(code):
		return cloud.ErrThrottled
	case code == "ScalingActivityInProgress":
		// Auto Scaling, 400: another activity blocks this one (or HonorCooldown inside the cooldown).
		return cloud.ErrScalingInProgress
	case strings.HasSuffix(code, ".NotFound"):
		// EC2: InvalidInstanceID.NotFound and its kin.
		return cloud.ErrNotFound
	case code == "ValidationError":
		// Auto Scaling reports unknown groups and instances as ValidationError too: "AutoScalingGroup
		// name not found - …", "Instance Id not found - No managed instance found for instance ID: …".
		if strings.Contains(strings.ToLower(message), "not found") {
			return cloud.ErrNotFound
		}
		return cloud.ErrInvalid
	case capacityCodes[code]:
		return cloud.ErrCapacity
	case unavailableCodes[code], status >= 500:
		return cloud.ErrUnavailable
	case authCodes[code]:
		// A configuration problem of ours, not a bad request: nothing to back off from.
		return nil
	case status >= 400:
		return cloud.ErrInvalid
	}
	return nil
}

// isThrottle uses the SDK's own list of throttle codes, the same one its retryer retries on:
// Throttling (Auto Scaling, 400 "Rate exceeded"), RequestLimitExceeded (EC2, 503) and the rest.
// Auto Scaling's LimitExceeded (account limits, 400) is not among them and is not retried.
func isThrottle(code string) bool {
	_, ok := retry.DefaultThrottleErrorCodes[code]
	return ok
}

// capacityCodes are EC2's answers when it cannot place an instance: they surface in launch
// activities and in any direct launch call.
var capacityCodes = map[string]bool{
	"InsufficientInstanceCapacity":         true,
	"InsufficientHostCapacity":             true,
	"InsufficientReservedInstanceCapacity": true,
	"InsufficientCapacity":                 true,
	"MaxSpotInstanceCountExceeded":         true,
	"SpotMaxPriceTooLow":                   true,
	"InstanceLimitExceeded":                true,
	"VcpuLimitExceeded":                    true,
}

// unavailableCodes are server-side failures; ResourceContention is Auto Scaling's 500 when another
// caller holds the group.
var unavailableCodes = map[string]bool{
	"ResourceContention": true,
	"ServiceUnavailable": true,
	"Unavailable":        true,
	"InternalFailure":    true,
	"InternalError":      true,
}

var authCodes = map[string]bool{
	"AccessDenied":                true,
	"AccessDeniedException":       true,
	"UnauthorizedOperation":       true,
	"AuthFailure":                 true,
	"InvalidClientTokenId":        true,
	"SignatureDoesNotMatch":       true,
	"ExpiredToken":                true,
	"UnrecognizedClientException": true,
}
