"""The official sample formulas (Azure's autoscale documentation), verbatim, and the formulas behind
real-service outputs: Appendix A and B of the Batch reference, plus two whose errors are on record."""

A1 = """startingNumberOfVMs = 1;
maxNumberofVMs = 25;
pendingTaskSamplePercent = $PendingTasks.GetSamplePercent(180 * TimeInterval_Second);
pendingTaskSamples = pendingTaskSamplePercent < 70 ? startingNumberOfVMs : avg($PendingTasks.GetSample(180 * TimeInterval_Second));
$TargetDedicatedNodes=min(maxNumberofVMs, pendingTaskSamples);
$NodeDeallocationOption = taskcompletion;
"""

A2 = """maxNumberofVMs = 25;
$TargetDedicatedNodes = min(maxNumberofVMs, $PreemptedNodeCount.GetSample(180 * TimeInterval_Second));
$TargetLowPriorityNodes = min(maxNumberofVMs , maxNumberofVMs - $TargetDedicatedNodes);
$NodeDeallocationOption = taskcompletion;
"""

A3 = "$myNewVariable = function($ServiceDefinedVariable, $myCustomVariable);"

A4 = [
    "$CPUPercent.GetSample(TimeInterval_Minute * 5)",
    "$CPUPercent.GetSample(TimeInterval_Minute * 10)",
    "$CPUPercent.GetSample(TimeInterval_Minute * 10, 95)",
    "$CPUPercent.GetSample(TimeInterval_Minute * 10, 80)",
    "$runningTasksSample = $RunningTasks.GetSample(1 * TimeInterval_Minute, 6 * TimeInterval_Minute);",
    "$runningTasksSample = $RunningTasks.GetSample(60 * TimeInterval_Second, 120 * TimeInterval_Second, 75);",
]

A5 = """$totalDedicatedNodes =
    (min($CPUPercent.GetSample(TimeInterval_Minute * 10)) > 0.7) ?
    ($CurrentDedicatedNodes * 1.1) : $CurrentDedicatedNodes;
$totalDedicatedNodes =
    (avg($CPUPercent.GetSample(TimeInterval_Minute * 60)) < 0.2) ?
    ($CurrentDedicatedNodes * 0.9) : $totalDedicatedNodes;
$TargetDedicatedNodes = min(400, $totalDedicatedNodes)
"""

A5B = A5 + "$NodeDeallocationOption = taskcompletion;\n"

A6 = ["$TargetDedicatedNodes = (time().weekday == 1 ? 5:1);", "$TargetDedicatedNodes = $CurrentDedicatedNodes;",
      "$TargetDedicatedNodes = 0"]  # fmt: skip

A7 = """$curTime = time();
             $workHours = $curTime.hour >= 8 && $curTime.hour < 18; 
             $isWeekday = $curTime.weekday >= 1 && $curTime.weekday <= 5; 
             $isWorkingWeekdayHour = $workHours && $isWeekday; 
             $TargetDedicated = $isWorkingWeekdayHour ? 20:10;"""  # noqa: W291 - trailing spaces are part of the sample

A8 = """        $curTime = time();
        $workHours = $curTime.hour >= 8 && $curTime.hour < 18;
        $isWeekday = $curTime.weekday >= 1 && $curTime.weekday <= 5;
        $isWorkingWeekdayHour = $workHours && $isWeekday;
        $TargetDedicatedNodes = $isWorkingWeekdayHour ? 20:10;"""

A9 = A8.replace("        ", "") + "\n$NodeDeallocationOption = taskcompletion;"
A9_TZ = "$curTime = time() + (-6 * TimeInterval_Hour);"

A10 = """// Get pending tasks for the past 15 minutes.
$samples = $PendingTasks.GetSamplePercent(TimeInterval_Minute * 15);
// If we have fewer than 70 percent data points, we use the last sample point,
// otherwise we use the maximum of last sample point and the history average.
$tasks = $samples < 70 ? max(0,$PendingTasks.GetSample(1)) : max( $PendingTasks.GetSample(1), avg($PendingTasks.GetSample(TimeInterval_Minute * 15)));
// If number of pending tasks is not 0, set targetVM to pending tasks, otherwise
// half of current dedicated.
$targetVMs = $tasks > 0? $tasks:max(0, $TargetDedicatedNodes/2);
// The pool size is capped at 20, if target VM value is more than that, set it
// to 20. This value should be adjusted according to your use case.
$TargetDedicatedNodes = max(0, min($targetVMs, 20));
// Set node deallocation mode - let running tasks finish before removing a node
$NodeDeallocationOption = taskcompletion;
"""

A11 = """// Determine whether 70 percent of the samples have been recorded in the past
// 15 minutes; if not, use last sample
$samples = $ActiveTasks.GetSamplePercent(TimeInterval_Minute * 15);
$tasks = $samples < 70 ? max(0,$ActiveTasks.GetSample(1)) : max( $ActiveTasks.GetSample(1),avg($ActiveTasks.GetSample(TimeInterval_Minute * 15)));
// Set the number of nodes to add to one-fourth the number of active tasks (the
// MaxTasksPerComputeNode property on this pool is set to 4, adjust this number
// for your use case)
$cores = $TargetDedicatedNodes * 4;
$extraVMs = (($tasks - $cores) + 3) / 4;
$targetVMs = ($TargetDedicatedNodes + $extraVMs);
// Attempt to grow the number of compute nodes to match the number of active
// tasks, with a maximum of 3
$TargetDedicatedNodes = max(0,min($targetVMs,3));
// Keep the nodes active until the tasks finish
$NodeDeallocationOption = taskcompletion;
"""

A12 = """
    $TargetDedicatedNodes = 4;
    lifespan         = time() - time("Mon, 01 Jan 2024 00:00:00 GMT");
    span             = TimeInterval_Minute * 60;
    startup          = TimeInterval_Minute * 10;
    ratio            = 50;

    $TargetDedicatedNodes = (lifespan > startup ? (max($RunningTasks.GetSample(span, ratio), $ActiveTasks.GetSample(span, ratio)) == 0 ? 0 : $TargetDedicatedNodes) : 4);
    """

A13 = ("totalNodes=($CPUPercent.GetSamplePercent(TimeInterval_Minute*0,TimeInterval_Minute*10)<0.7?5:(min($CPUPercent"
       ".GetSample(TimeInterval_Minute*0, TimeInterval_Minute*10))>0.8?($CurrentDedicated*1.1):$CurrentDedicated));"
       "$targetDedicatedNodes=min(100,totalNodes);")  # fmt: skip

B1 = """// Get pending tasks for the past 15 minutes.
$samples = $ActiveTasks.GetSamplePercent(TimeInterval_Minute * 15);
// If we have fewer than 70 percent data points, we use the last sample point, otherwise we use the maximum of last sample point and the history average.
$tasks = $samples < 70 ? max(0, $ActiveTasks.GetSample(1)) : 
max( $ActiveTasks.GetSample(1), avg($ActiveTasks.GetSample(TimeInterval_Minute * 15)));
// If number of pending tasks is not 0, set targetVM to pending tasks, otherwise half of current dedicated.
$targetVMs = $tasks > 0 ? $tasks : max(0, $TargetDedicatedNodes / 2);
// The pool size is capped at 20, if target VM value is more than that, set it to 20. This value should be adjusted according to your use case.
cappedPoolSize = 3;
$TargetDedicatedNodes = max(1, min($targetVMs, cappedPoolSize));
// Set node deallocation mode - keep nodes active only until tasks finish
$NodeDeallocationOption = taskcompletion;"""  # noqa: W291 - verbatim, trailing space included

# batch-shipyard's generated formula for its `pending_tasks` scenario with default settings (bias_last_sample,
# 10-minute look-back, auto node type, no rebalancing), as convoy/autoscale.py built it in October 2017:
# statements joined by ";\n". On a fresh pool it failed with "Line 9, Col 43: Insufficient data from data set:
# $PendingTasks wanted 70%, received 0%" (batch-shipyard#138, Appendix B.3).
SHIPYARD_2017 = """maxTasksPerNode = 1;
minTargetDedicated = 0;
minTargetLowPriority = 0;
maxTargetDedicated = 4;
maxTargetLowPriority = 0;
sli = TimeInterval_Second * 600.0;
samplepercent = $PendingTasks.GetSamplePercent(sli);
lastsample = val($PendingTasks.GetSample(1), 0);
samplevecavg = avg($PendingTasks.GetSample(sli));
PendingTaskAvg = samplepercent < 70 ? max(0, lastsample) : (lastsample < samplevecavg ? avg(lastsample, samplevecavg) : max(lastsample, samplevecavg));
reqVMs = PendingTaskAvg / maxTasksPerNode;
preemptcount = 0;
rebalance = 0 == 1;
divisor = (maxTargetDedicated == 0 || maxTargetLowPriority == 0) ? 1 : 2;
dedicatedVMs = max(minTargetDedicated, reqVMs / divisor);
dedicatedVMs = min(maxTargetDedicated, (dedicatedVMs > 0 && dedicatedVMs < 1) ? 1 : dedicatedVMs);
remainingVMs = reqVMs - dedicatedVMs;
redistVMs = rebalance ? min(preemptcount, remainingVMs) : 0;
dedicatedVMs = min(maxTargetDedicated, dedicatedVMs + redistVMs);
lowPriVMs = min(maxTargetLowPriority, reqVMs - dedicatedVMs);
$TargetDedicatedNodes = dedicatedVMs;
$TargetLowPriorityNodes = max(minTargetLowPriority, lowPriVMs);
$NodeDeallocationOption = taskcompletion;"""

# The fix that closed batch-shipyard#138: the window average only when enough samples exist.
SHIPYARD_FIXED = SHIPYARD_2017.replace(
    "samplevecavg = avg($PendingTasks.GetSample(sli));",
    "samplevecavg = samplepercent < 70 ? max(0, lastsample) : avg($PendingTasks.GetSample(sli));",
)

# From the Azure Batch .NET SDK's unit tests: a pool whose formula is one bare expression, and the error
# its autoscale run carried: "Line 1, Col 24: Insufficient data from data set: $RunningTasks wanted 100%,
# received 0%".
DOTNET_SDK_TEST = "$RunningTasks.GetSample(10 * TimeInterval_Second, 0 * TimeInterval_Second, 100);"
