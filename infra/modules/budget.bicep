// A monthly cost budget on the resource group: Cost Management tells the action group when the month's
// actual cost passes 80 % and 100 % of the amount, and when its forecast for the month passes 100 %.
// Cost data arrives hours after the spending, so this is the slow guard; the idle-GPU alert (alerts.bicep)
// is the fast one. A budget only notifies: nothing is stopped or scaled down.

@description('Budget name, unique in the resource group.')
param budgetName string

@description('The monthly amount, in the billing account\'s currency (main.bicep deploys this module only above 0).')
param amount int

// A budget's start date cannot be changed once it exists (the API answers "Start date of budgets cannot be
// updated"), and a new budget's may not lie before the current month. So it is a value the operator sets once,
// the first day of the month of the first deployment with a budget, and keeps: a default computed at each
// deployment (utcNow) would fail every deployment after that month.
@description('First day of the budget\'s first month, yyyy-MM-01: the month it was first deployed, kept afterwards.')
@minLength(10)
@maxLength(10)
param startDate string

// Required, unlike the alerts': a budget notification without a contact is refused, so an empty id stops the
// deployment here, naming this parameter.
@description('Action group (resource id) the budget notifies.')
@minLength(1)
param actionGroupId string

resource budget 'Microsoft.Consumption/budgets@2024-08-01' = {
  name: budgetName
  properties: {
    category: 'Cost'
    amount: amount
    timeGrain: 'Monthly'
    timePeriod: {
      startDate: startDate
    }
    notifications: {
      // contactEmails is required by the API's definition; the action group is the contact.
      actual80: {
        enabled: true
        operator: 'GreaterThan'
        threshold: 80
        thresholdType: 'Actual'
        contactEmails: []
        contactGroups: [actionGroupId]
      }
      actual100: {
        enabled: true
        operator: 'GreaterThan'
        threshold: 100
        thresholdType: 'Actual'
        contactEmails: []
        contactGroups: [actionGroupId]
      }
      forecast100: {
        enabled: true
        operator: 'GreaterThan'
        threshold: 100
        thresholdType: 'Forecasted'
        contactEmails: []
        contactGroups: [actionGroupId]
      }
    }
  }
}
