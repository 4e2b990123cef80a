package main

import (
	"bytes"
	"encoding/json"
	"io"
	"os"
	"regexp"
	"slices"
	"strings"
	"testing"

	"github.com/marmot-project/marmot/autoscaler"
	"github.com/marmot-project/marmot/cloud"
)

// The Marathon app definition in deploy/ runs the binary with flags it has, checks the endpoints it
// serves, and keeps the autoscaler off the agents it drains.
func TestMarathonAppDefinition(t *testing.T) {
	var app struct {
		ID           string
		Cmd          string
		Instances    int
		Labels       map[string]string
		Constraints  [][]string
		HealthChecks []struct {
			Protocol string
			Path     string
		}
		ReadinessChecks []struct{ Path string }
		UpgradeStrategy struct {
			MinimumHealthCapacity float64
			MaximumOverCapacity   float64
		}
		Env map[string]string
	}
	data, err := os.ReadFile("../../deploy/autoscaler.json")
	if err != nil {
		t.Fatal(err)
	}
	dec := json.NewDecoder(bytes.NewReader(data))
	if err := dec.Decode(&app); err != nil {
		t.Fatal(err)
	}
	var help bytes.Buffer
	run(t.Context(), []string{"--help"}, io.Discard, &help, env{})
	for _, flag := range regexp.MustCompile(`--[a-z-]+`).FindAllString(app.Cmd, -1) {
		if !strings.Contains(help.String(), "  "+flag+" ") && !strings.Contains(help.String(), "  "+flag+"\n") {
			t.Errorf("the app's command uses %s, which the autoscaler does not have", flag)
		}
	}
	for _, flag := range []string{"--mesos-url", "--marathon-url", "--policy", "--listen"} {
		if !strings.Contains(app.Cmd, flag) {
			t.Errorf("the app's command lacks %s", flag)
		}
	}
	if len(app.HealthChecks) != 1 || app.HealthChecks[0].Path != "/healthz" || len(app.ReadinessChecks) != 1 || app.ReadinessChecks[0].Path != "/readyz" {
		t.Errorf("checks: %+v %+v", app.HealthChecks, app.ReadinessChecks)
	}
	// Replicas elect one leader through ZooKeeper (docs/ha.md): only with --zk may there be more than one.
	if app.Instances > 1 && !strings.Contains(app.Cmd, "--zk ") {
		t.Errorf("%d autoscalers without --zk would all act", app.Instances)
	}
	if app.Instances > 1 && !slices.ContainsFunc(app.Constraints, func(c []string) bool { return slices.Equal(c, []string{"hostname", "UNIQUE"}) }) {
		t.Error("replicas on one host fail together: hostname UNIQUE is missing")
	}
	if app.UpgradeStrategy.MaximumOverCapacity != 0 {
		t.Errorf("upgrade %+v: a rolling upgrade replaces one replica at a time", app.UpgradeStrategy)
	}
	if app.Labels["marmot.protect"] != "true" || app.Env["AWS_REGION"] == "" {
		t.Errorf("labels %v, env %v", app.Labels, app.Env)
	}
}

// The IAM policy in deploy/ allows every AWS call the autoscaler makes.
func TestIAMPolicyAllowsEveryCall(t *testing.T) {
	needs := map[string][]string{ // the cloud.Provider calls the loop makes, and the AWS actions behind each
		cloud.CallGroups:                {"autoscaling:DescribeAutoScalingGroups", "ec2:DescribeInstances"},
		cloud.CallActivities:            {"autoscaling:DescribeScalingActivities"},
		cloud.CallInstances:             {"ec2:DescribeInstances"},
		cloud.CallInstanceTypes:         {"ec2:DescribeInstanceTypes"},
		cloud.CallSetDesiredCapacity:    {"autoscaling:SetDesiredCapacity"},
		cloud.CallTerminateInstance:     {"autoscaling:TerminateInstanceInAutoScalingGroup"},
		cloud.CallSetInstanceProtection: {"autoscaling:SetInstanceProtection"},
		cloud.CallSetInstanceTags:       {"ec2:CreateTags"},
		cloud.CallDeleteInstanceTags:    {"ec2:DeleteTags"},
		// The notice queue (--notice-queue): Check, Receive, Delete (DeleteMessageBatch is allowed by
		// sqs:DeleteMessage).
		"notice queue": {"sqs:GetQueueAttributes", "sqs:ReceiveMessage", "sqs:DeleteMessage"},
	}
	var doc struct {
		Statement []struct {
			Effect    string
			Action    []string
			Condition struct {
				ForAllValues struct {
					TagKeys []string `json:"aws:TagKeys"`
				} `json:"ForAllValues:StringEquals"`
			}
		}
	}
	data, err := os.ReadFile("../../deploy/autoscaler-iam-policy.json")
	if err != nil {
		t.Fatal(err)
	}
	if err := json.Unmarshal(data, &doc); err != nil {
		t.Fatal(err)
	}
	var allowed []string
	for _, s := range doc.Statement {
		if s.Effect != "Allow" {
			continue
		}
		allowed = append(allowed, s.Action...)
		// The tag writes are limited to the drain marks' keys: a key the code writes and the policy
		// leaves out is refused by AWS, and every drain then fails at its first step.
		if slices.Contains(s.Action, "ec2:CreateTags") {
			keys := s.Condition.ForAllValues.TagKeys
			for _, k := range autoscaler.DrainTagKeys() {
				if !slices.Contains(keys, k) {
					t.Errorf("the policy lets ec2:CreateTags write the keys %v, not the drain tag %s", keys, k)
				}
			}
		}
	}
	for call, actions := range needs {
		for _, a := range actions {
			if !slices.Contains(allowed, a) {
				t.Errorf("%s needs %s, which the policy does not allow", call, a)
			}
		}
	}
}
